/**
 * @module Turns a parsed TOML document into a RotaConfig, or the full list of what is
 * wrong with it, each problem under its zero-based key path.
 */
import { dirname, isAbsolute, join } from "node:path";
import { KEY_TYPES, type KeyType } from "../crypto/key-types.ts";
import { longThresholdWarning, resolveThreshold, thresholdProblem } from "../scheduler/threshold.ts";
import { ALERT_EVENTS, DEFAULT_ALERT_EVENTS } from "../alerts/catalogue.ts";
import { ALERT_TYPES, CA_CERT_KEYS, CA_TYPES, DCV_TYPES, INSTALL_TYPES, type BackendEntry, type ConfiguredFolder } from "../backends/registry.ts";
import { readVerifyServed } from "../backends/install/served/config.ts";
import { SEVERITIES, type ChallengeKind, type Severity } from "../backends/types.ts";
import { readCluster } from "./cluster.ts";
import { clusterConfigProblems } from "./cluster-checks.ts";
import { readAudit } from "./audit.ts";
import { readHttp } from "./http.ts";
import { normalizeName, toUnicode, type NormalName } from "./names.ts";
import { isWithin } from "./paths.ts";
import type { SectionKeys } from "./preflight.ts";
import { Problems, quote, Reader, valuesOf, type ListItem, type ReaderContext, type StringList, type ValidateOptions } from "./reader.ts";
import {
  DEFAULT_EXPIRY_WARNING_DAYS,
  DEFAULT_REPEAT_INTERVAL_HOURS,
  DEFAULT_SOCKET,
  DEFAULT_STATE_DIR,
  KEY_ROTATIONS,
  type AlertSection,
  type BackendSection,
  type CertConfig,
  type ClusterConfig,
  type DaemonConfig,
  type HttpConfig,
  type InstallSection,
  type RotaConfig,
} from "./schema.ts";

const CERT_ID = /^[a-z0-9][a-z0-9._-]*$/;
/** A cert id becomes a folder and file names (`<dir>/<id>/`, `keys/<id>.key`). */
const CERT_ID_MAX = 64;
/** Linux `sun_path` is 108 bytes with its NUL (unix(7)); a longer path fails to bind with ENAMETOOLONG. */
const SOCKET_PATH_MAX = 107;
/**
 * Bounds on times. The check interval drives a timer, which holds at most 2^31-1 ms
 * (~24.8 days; beyond it Bun fires at once, a busy loop), and huge values make Invalid
 * Dates. A threshold of 0 days would renew only after expiry, an outage by design.
 */
const MAX_CHECK_INTERVAL_SECONDS = 7 * 86400;
const MAX_COOLDOWN_SECONDS = 30 * 86400;
const MAX_THRESHOLD_DAYS = 3650;
/** A year: a reminder held longer than that is no reminder. */
const MAX_REPEAT_INTERVAL_HOURS = 8760;

/** The readers' options for each `[[cert]]`, made once rather than per cert (a start reads 10,000 of them). */
const ID_OPTS = { required: true, pattern: CERT_ID, patternHint: "must match [a-z0-9][a-z0-9._-]*", maxLength: CERT_ID_MAX } as const;
const REQUIRED = { required: true } as const;
const KEY_PATH_OPTS = { ifExists: "file" } as const;
const THRESHOLD_OPTS = { min: 1, max: MAX_THRESHOLD_DAYS } as const;
const ONE_OR_LIST = { oneOrList: true } as const;

/** `warnings`: what works but is likely a mistake, as `<key path>: message` lines (`rota check-config` prints them, exit 0). */
export type Validated = { ok: true; config: RotaConfig; warnings: string[] } | { ok: false; problems: string[]; partial: PartialConfig };

/**
 * What did validate in a config with problems, with defaults where a value was refused
 * and without the sections refused, so `rota check-config` can check the machine for it
 * in the same run. `keys` says where each cert and install section is in the file.
 */
export interface PartialConfig {
  config: RotaConfig;
  keys: SectionKeys;
}

/** The sections certs name, by name (the first of a duplicated name, as a search of the list finds it): looked up for each of 10,000 certs. */
interface Sections {
  cas: Map<string, BackendSection>;
  dcvs: Map<string, BackendSection>;
  installs: Map<string, InstallSection>;
  /** Every name declared, its section usable or not: a cert naming one whose type is unknown gets no second problem. */
  declared: { cas: Set<string>; dcvs: Set<string>; installs: Set<string> };
}

function byName<S extends BackendSection>(sections: S[]): Map<string, S> {
  const out = new Map<string, S>();
  for (const s of sections) if (!out.has(s.name)) out.set(s.name, s);
  return out;
}

/** A section read, with its key path in the file (`install[1]`): invalid sections leave gaps in the lists. */
interface KeyedSection {
  key: string;
  section: BackendSection;
}

/** Where the daemon writes private keys, under the key that puts them there. */
interface KeyLocation {
  key: string;
  path: string;
  /** A folder of keys ("the private keys") rather than one key file. */
  folder: boolean;
}

export function validateConfig(doc: Record<string, unknown>, file: string, env: Record<string, string | undefined> = process.env, opts: ValidateOptions = {}): Validated {
  const v = new ConfigValidation(doc, file, env, opts);
  v.readCerts(v.beginCerts());
  return v.finish();
}

/**
 * `validateConfig` in steps, so a start can listen between them (issue 11): the sections
 * before the certs (made with the document), then the `[[cert]]` tables in runs
 * (`beginCerts`, `readCerts` until done), then the rest (`finish`). The same readers in the
 * same order as `validateConfig`, which is these steps run at once: the same config, problems
 * and warnings, line for line.
 */
export class ConfigValidation {
  private readonly ctx: ReaderContext;
  private readonly top: Reader;
  readonly daemon: DaemonConfig;
  readonly audit: RotaConfig["audit"];
  private readonly caSections: KeyedSection[];
  private readonly dcvSections: KeyedSection[];
  private readonly installSections: Array<{ key: string; section: InstallSection }>;
  private readonly declared: Sections["declared"] = { cas: new Set(), dcvs: new Set(), installs: new Set() };
  private readonly keys: KeyLocation[];
  private readonly certAt: number[] = [];
  private readonly certs: CertConfig[] = [];
  private certRun: CertRun | null = null;

  constructor(
    private readonly doc: Record<string, unknown>,
    private readonly file: string,
    env: Record<string, string | undefined>,
    opts: ValidateOptions = {},
  ) {
    this.ctx = { problems: new Problems(), baseDir: dirname(file), env, unsetEnvWarns: opts.unsetEnvWarns };
    this.top = new Reader(doc, "", this.ctx);
    this.daemon = readDaemon(this.top.child("daemon"));
    const auditReader = this.top.child("audit");
    this.audit = readAudit(auditReader, this.daemon.stateDir);
    auditReader.finish();
    this.caSections = readSections(this.top, "ca", CA_TYPES, undefined, this.declared.cas);
    this.dcvSections = readSections(this.top, "dcv", DCV_TYPES, undefined, this.declared.dcvs);
    this.installSections = readSections(this.top, "install", INSTALL_TYPES, readVerifyServed, this.declared.installs);
    this.keys = [{ key: "daemon.state_dir", path: this.daemon.stateDir, folder: true }];
  }

  /** How many problems the steps so far found. */
  get problemCount(): number {
    return this.ctx.problems.list.length;
  }

  /**
   * What `[http]` and `[cluster]` hold, read apart (their problems counted in `problems`, not
   * in this validation's), for a start that listens before the certs are read. `[http]`'s
   * `tls_cert_id` cannot be resolved without the certs: it reads as a problem here.
   */
  preview(): { http: HttpConfig; cluster: ClusterConfig; problems: number } {
    const ctx: ReaderContext = { ...this.ctx, problems: new Problems() };
    const table = (k: string) => {
      const v = this.doc[k];
      return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
    };
    const http = readHttp(new Reader(table("http"), "http", ctx), [], []);
    const cluster = readCluster(new Reader(table("cluster"), "cluster", ctx));
    return { http, cluster, problems: ctx.problems.list.length };
  }

  /**
   * Starts on the `[[cert]]` tables: the document's, or `given` when the document was made
   * without them (the parse cache keeps them apart). Returns how many there are (0 when
   * `cert` is absent or not an array).
   */
  beginCerts(given?: unknown[]): number {
    const sections = { cas: byName(this.caSections.map((s) => s.section)), dcvs: byName(this.dcvSections.map((s) => s.section)), installs: byName(this.installSections.map((s) => s.section)), declared: this.declared };
    if (given) this.top.skip("cert");
    const tables = given ?? this.top.tables("cert");
    this.certRun = { sections, tables, next: 0, ids: new Set(), claimed: new Map(), caClaims: new Map(), keysDir: join(this.daemon.stateDir, "keys"), keyPathSet: false };
    return Array.isArray(tables) ? tables.length : 0;
  }

  /** Reads the `[[cert]]` tables up to index `end` (exclusive) from where the last call stopped. */
  readCerts(end: number): void {
    const run = this.certRun!;
    const tables = run.tables;
    if (!Array.isArray(tables)) return;
    for (; run.next < end && run.next < tables.length; run.next++) {
      const i = run.next;
      this.top.eachItem("cert", tables, i, (r) => {
        const cert = readCert(r, this.daemon, run.keysDir, run.sections, run.ids, run.claimed, run.caClaims);
        const hasKeyPath = r.has("key_path");
        run.keyPathSet ||= hasKeyPath;
        if (cert && hasKeyPath) this.keys.push({ key: r.key("key_path"), path: cert.keyPath, folder: false });
        if (cert) {
          this.certs.push(cert);
          this.certAt.push(i);
        }
      });
    }
  }

  /** The steps after the certs (all of them read): the result `validateConfig` gives. */
  finish(): Validated {
    const { ctx, top, certs, certAt, daemon, audit } = this;
    const run = this.certRun!;
    // A daemon with nothing to renew is a mistake, not a setup; a non-array was reported already.
    if (run.tables === undefined || (Array.isArray(run.tables) && run.tables.length === 0)) top.problem("cert", "at least one [[cert]] is required");
    if (run.keyPathSet) checkSharedKeys(top, certs, certAt);
    const certKey = (i: number) => `cert[${certAt[i]}]`;
    const cas = this.caSections.map((s) => s.section);
    const dcvs = this.dcvSections.map((s) => s.section);
    const installs = this.installSections.map((s) => s.section);
    for (const { key, section } of this.installSections) {
      for (const f of INSTALL_TYPES[section.type]?.keyFolders?.(section.options) ?? []) this.keys.push({ key: `${key}.${f.key}`, path: f.path, folder: true });
    }
    checkKeysNotServed(ctx.problems, this.keys, this.dcvSections);
    const http = readHttp(top.child("http"), certs, installs);
    const alerts = readAlerts(top);
    const cluster = readCluster(top.child("cluster"));
    top.finish();

    const config: RotaConfig = { file: this.file, daemon, audit, cas, dcvs, installs, certs, http, alerts, cluster };
    // Only what the file shows: what cluster mode lacks on this machine (keys, a CA root) is the
    // pre-start checks' (preflight.ts), since `rota ca root` and `rota doctor` load this config too.
    ctx.problems.list.push(...clusterConfigProblems(config, { cert: certKey, ca: (i) => this.caSections[i]!.key }));
    if (ctx.problems.list.length > 0) {
      return { ok: false, problems: ctx.problems.list, partial: { config, keys: { certs: certs.map((_, i) => certKey(i)), installs: this.installSections.map((s) => s.key), cas: this.caSections.map((s) => s.key) } } };
    }
    return { ok: true, config, warnings: ctx.problems.warnings };
  }
}

/** Where `ConfigValidation` is in the `[[cert]]` tables, with what the certs read so far claimed. */
interface CertRun {
  sections: Sections;
  /** The document's `cert` value, marked read: an array, or what else it was (reported). */
  tables: unknown;
  next: number;
  ids: Set<string>;
  /** Each single-certificate target's name, with the cert that uses it. */
  claimed: Map<string, string>;
  /** Each `CaEntry.certClaim` made, likewise. */
  caClaims: Map<string, string>;
  /** `<state_dir>/keys`, where a key goes when `key_path` is not given. */
  keysDir: string;
  keyPathSet: boolean;
}

/** Default key paths differ as the ids do: two certs can share a key only when one sets key_path. */
function checkSharedKeys(top: Reader, certs: CertConfig[], certAt: number[]): void {
  const keyPaths = new Map<string, string>();
  certs.forEach((c, i) => {
    const other = keyPaths.get(c.keyPath);
    // A duplicate id shares its default key path; that is reported once, as the duplicate id.
    if (other !== undefined && other !== c.id) top.ctx.problems.add(`cert[${certAt[i]}].key_path`, `is also the key of cert ${quote(other)}`);
    keyPaths.set(c.keyPath, c.id);
  });
}

function readDaemon(r: Reader): DaemonConfig {
  const stateDir = r.path("state_dir", { ifExists: "directory" }) ?? DEFAULT_STATE_DIR;
  const socket = r.path("socket", { ifExists: "socket" }) ?? DEFAULT_SOCKET;
  const socketBytes = Buffer.byteLength(socket);
  if (socketBytes > SOCKET_PATH_MAX) r.problem("socket", `path is ${socketBytes} bytes; unix sockets allow at most ${SOCKET_PATH_MAX}`);
  const cooldown = r.int("failure_cooldown_seconds", { min: 1, max: MAX_COOLDOWN_SECONDS, fallback: 900 });
  const cooldownMax = r.int("failure_cooldown_max_seconds", { min: 1, max: MAX_COOLDOWN_SECONDS, fallback: 86400 });
  if (cooldownMax < cooldown) r.problem("failure_cooldown_max_seconds", "must not be less than failure_cooldown_seconds");
  const d: DaemonConfig = {
    stateDir,
    socket,
    checkIntervalSeconds: r.int("check_interval_seconds", { min: 1, max: MAX_CHECK_INTERVAL_SECONDS, fallback: 3600 }),
    renewThresholdDays: r.int("renew_threshold_days", { min: 1, max: MAX_THRESHOLD_DAYS }),
    failureCooldownSeconds: cooldown,
    failureCooldownMaxSeconds: cooldownMax,
    maxAuthzFailures: r.int("max_authz_failures", { min: 1, max: 100, fallback: 5 }),
    maxConcurrentRenewals: r.int("max_concurrent_renewals", { min: 1, max: 64, fallback: 4 }),
    renewalTimeoutSeconds: r.int("renewal_timeout_seconds", { min: 60, max: 86_400, fallback: 1800 }),
    workerIdleSeconds: r.int("worker_idle_seconds", { min: 1, max: 86_400, fallback: 60 }),
    workerMaxRenewals: r.int("worker_max_renewals", { min: 1, max: 1_000_000, fallback: 1000 }),
    expiryWarningDays: r.int("expiry_warning_days", { min: 1, max: MAX_THRESHOLD_DAYS, fallback: DEFAULT_EXPIRY_WARNING_DAYS }),
  };
  r.finish();
  return d;
}

/**
 * The array of tables `[[key]]`, each `{name, type, …}` read by its registry entry. `common`
 * reads the keys every section of this kind has, before the entry reads its own.
 */
/** `seen`: filled with every name declared, sections of an unknown type included. */
function readSections<X = object>(
  top: Reader,
  key: string,
  types: Record<string, BackendEntry<unknown>>,
  common?: (r: Reader) => X,
  seen = new Set<string>(),
): Array<{ key: string; section: BackendSection & X }> {
  const out: Array<{ key: string; section: BackendSection & X }> = [];
  top.each(key, (r) => {
    const name = r.string("name", { required: true });
    const type = r.string("type", { required: true });
    if (name !== undefined) {
      if (seen.has(name)) r.problem("name", `duplicate ${key} name ${quote(name)}`);
      seen.add(name);
    }
    const entry = type === undefined ? undefined : types[type];
    if (type !== undefined && !entry) r.problem("type", `unknown ${key} type ${quote(type)} (known: ${Object.keys(types).join(", ")})`);
    if (!entry) {
      r.skipRest();
      return;
    }
    const shared = common ? common(r) : ({} as X);
    const options = entry.parse(r);
    r.finish();
    if (name !== undefined && type !== undefined) out.push({ key: r.prefix, section: { name, type, options, ...shared } });
  });
  return out;
}

/** `[[alert]]`: the keys every sink has here, then the sink type's own. */
function readAlerts(top: Reader): AlertSection[] {
  return readSections(top, "alert", ALERT_TYPES, (r) => ({
    events: readAlertEvents(r),
    minSeverity: r.oneOf<Severity>("min_severity", SEVERITIES, "info"),
    repeatIntervalHours: r.int("repeat_interval_hours", { min: 1, max: MAX_REPEAT_INTERVAL_HOURS, fallback: DEFAULT_REPEAT_INTERVAL_HOURS }),
  })).map((s) => s.section);
}

/** `events`: names from the catalogue, each once, or `["*"]` for all of them. */
function readAlertEvents(r: Reader): string[] {
  const list = r.stringList("events");
  if (list === undefined) return [...DEFAULT_ALERT_EVENTS];
  if (list.complete && list.items.length === 0) r.problem("events", `must not be empty (known: ${ALERT_EVENTS.join(", ")}, or "*" for all)`);
  if (list.items.some((i) => i.value === "*")) {
    if (list.items.length > 1) r.problem("events", `"*" stands for every event and comes alone`);
    return [...ALERT_EVENTS];
  }
  const out: string[] = [];
  for (const { value, key } of list.items) {
    if (!(ALERT_EVENTS as readonly string[]).includes(value)) r.ctx.problems.add(key, `unknown event ${quote(value)} (known: ${ALERT_EVENTS.join(", ")}, or "*" for all)`);
    else if (out.includes(value)) r.ctx.problems.add(key, `${quote(value)} is listed twice`);
    else out.push(value);
  }
  return out;
}

/** One `[[cert]]`; undefined when it is too broken to use (its problems are reported). */
/** `claimed`: each single-certificate target's name, with the cert that uses it; `caClaims`: each `CaEntry.certClaim` made, likewise. */
function readCert(
  r: Reader,
  daemon: DaemonConfig,
  /** `<state_dir>/keys`, where a key goes when `key_path` is not given. */
  keysDir: string,
  sections: Sections,
  ids: Set<string>,
  claimed: Map<string, string>,
  caClaims: Map<string, string>,
): CertConfig | undefined {
  const id = r.string("id", ID_OPTS);
  if (id !== undefined) {
    if (ids.has(id)) r.problem("id", `duplicate cert id ${quote(id)}`);
    ids.add(id);
  }
  const domains = readDomains(r);

  const caName = r.string("ca", REQUIRED);
  const ca = caName === undefined ? undefined : sections.cas.get(caName);
  if (caName !== undefined && !ca && !sections.declared.cas.has(caName)) r.problem("ca", `no [[ca]] named ${quote(caName)}`);
  const maxNames = ca ? CA_TYPES[ca.type]?.maxNames : undefined;
  const nameCount = domains?.names.length ?? 0;
  if (ca && maxNames !== undefined && nameCount > maxNames) {
    r.problem("domains", `${nameCount} names, but ca ${quote(ca.name)} (type ${ca.type}) accepts at most ${maxNames} in one certificate`);
  }

  const dcvName = r.string("dcv");
  const dcv = dcvName === undefined ? undefined : sections.dcvs.get(dcvName);
  if (dcvName !== undefined && !dcv && !sections.declared.dcvs.has(dcvName)) r.problem("dcv", `no [[dcv]] named ${quote(dcvName)}`);
  const needsDcv = ca !== undefined && CA_TYPES[ca.type]?.needsDcv === true;
  if (dcvName === undefined && needsDcv) r.problem("dcv", `is required: ca ${quote(ca.name)} (type ${ca.type}) validates domain control`);
  if (needsDcv && dcv && ca) checkProvable(r, domains?.names ?? [], dcv, ca);

  const install = readInstall(r, sections.installs, sections.declared.installs, id, claimed);
  // `keysDir` is normal and the file name holds no slash (an id cannot): a join would change nothing.
  const keyPath = r.path("key_path", KEY_PATH_OPTS) ?? `${keysDir}/${id ?? "unnamed"}.key`;
  const keyType = r.oneOf<KeyType>("key_type", KEY_TYPES, "ecdsa-p256");
  const keyRotation = r.oneOf("key_rotation", KEY_ROTATIONS, "never");
  const renewThresholdDays = r.int("renew_threshold_days", THRESHOLD_OPTS);
  const lifetime = ca ? CA_TYPES[ca.type]?.lifetimeDays?.(ca.options) : undefined;
  const threshold = resolveThreshold(renewThresholdDays, daemon.renewThresholdDays);
  const problem = threshold && ca && lifetime !== undefined ? thresholdProblem(threshold, { name: ca.name, lifetimeDays: lifetime }) : null;
  if (problem) r.problem(problem.key, problem.message);
  const long = !problem && lifetime !== undefined && id !== undefined ? longThresholdWarning(threshold, lifetime) : null;
  if (long) r.warn(threshold?.source === "cert" ? "renew_threshold_days" : "ca", long);
  const caOptions = readCaOptions(r, ca);
  const claim = ca && caOptions !== undefined ? CA_TYPES[ca.type]?.certClaim?.(caOptions) : undefined;
  if (claim && r.has(claim.key)) {
    const owner = caClaims.get(`${claim.key}=${claim.value}`);
    if (owner !== undefined) r.problem(claim.key, `is also the ${claim.key} of cert ${quote(owner)}`);
    else if (id !== undefined) caClaims.set(`${claim.key}=${claim.value}`, id);
  }
  r.finish();

  const domainNames = domains?.complete ? domains.names.map((n) => n.value) : undefined;
  // The sections' own strings for the names they go by: the same text in every cert, held once (issue 11).
  const installNames = valuesOf(install)?.map((name) => sections.installs.get(name)?.name ?? name);
  if (id === undefined || !domainNames || caName === undefined || !installNames) return undefined;
  const cert: CertConfig = { id, domains: domainNames, ca: ca?.name ?? caName, dcv: dcv?.name ?? dcvName, install: installNames, keyPath, keyType, keyRotation, renewThresholdDays };
  // Absent, not undefined, when the CA takes none: as a spread left it (a start reads 10,000 certs: no spread).
  if (caOptions !== undefined) cert.caOptions = caOptions;
  return cert;
}

/**
 * The cert's CA-specific keys (`profile`), read by its CA type. A key only another CA type
 * reads is refused by name; with no known CA they are left alone (the CA's problem is reported).
 */
function readCaOptions(r: Reader, ca: BackendSection | undefined): unknown {
  const entry = ca ? CA_TYPES[ca.type] : undefined;
  for (const k of CA_CERT_KEYS) {
    if (!r.has(k) || entry?.certKeys?.includes(k)) continue;
    r.skip(k);
    if (ca && entry) r.problem(k, `ca ${quote(ca.name)} (type ${ca.type}) takes no ${k}`);
  }
  return entry?.parseCertOptions?.(r);
}

interface DomainItem extends NormalName {
  /** The list item it was read from: its key path (`cert[0].domains[1]`) is where a problem with this name is reported. */
  item: ListItem;
}

interface Domains {
  /** The valid names, in normal form (names.ts), each once. */
  names: DomainItem[];
  /** False when some item was not a non-empty string (already reported). */
  complete: boolean;
}

/** `domains`: host names (Unicode or ASCII), `*.` wildcards and IP addresses, each once in normal form. */
function readDomains(r: Reader): Domains | undefined {
  const domains = r.stringList("domains");
  if (domains === undefined) {
    // Absent; a value of the wrong type has its own problem already.
    if (!r.has("domains")) r.problem("domains", "is required");
    return undefined;
  }
  if (domains.complete && domains.items.length === 0) r.problem("domains", "must not be empty");
  const names: DomainItem[] = [];
  for (const item of domains.items) {
    const name = normalizeName(item.value);
    if (!name) r.ctx.problems.add(item.key, `${quote(item.value)} is not a valid host name or IP address`);
    else if (names.some((n) => n.value === name.value)) r.ctx.problems.add(item.key, `${quoteName(name.value)} is listed twice`);
    else names.push({ value: name.value, kind: name.kind, item });
  }
  return { names, complete: domains.complete };
}

/** `"xn--bcher-kva.example" (bücher.example)`: the form compared, and its Unicode form when that differs. */
function quoteName(normal: string): string {
  const unicode = toUnicode(normal);
  return unicode === normal ? quote(normal) : `${quote(normal)} (${unicode})`;
}

/** How a CA's challenge kinds read in a config problem. */
const KIND_WORDS: Record<ChallengeKind, string> = { "http-01": "http-01", "dns-01": "dns-01", "dns-cname": "a DNS CNAME record" };
const DNS_KINDS: readonly ChallengeKind[] = ["dns-01", "dns-cname"];

/**
 * A DCV must solve a kind its CA hands out, and names it cannot prove are refused up front. A
 * wildcard can be proven only over DNS: since CA/Browser Forum ballot SC45 (2021) the Baseline
 * Requirements' HTTP methods (3.2.2.4.18, .19) may not validate wildcards, so ACME CAs offer only
 * dns-01 for them. An IP address has no DNS zone to publish in: RFC 8738 §7 allows http-01 and
 * tls-alpn-01 only.
 */
function checkProvable(r: Reader, names: DomainItem[], dcv: BackendSection, ca: BackendSection): void {
  const kinds = DCV_TYPES[dcv.type]?.kinds ?? [];
  const caKinds = CA_TYPES[ca.type]?.kinds ?? [];
  const solves = `dcv ${quote(dcv.name)} (type ${dcv.type}) solves ${kinds.join(", ") || "nothing"}`;
  const usable = kinds.filter((k) => caKinds.includes(k));
  if (usable.length === 0) {
    r.problem("dcv", `ca ${quote(ca.name)} (type ${ca.type}) validates with ${caKinds.map((k) => KIND_WORDS[k]).join(" or ")}; ${solves}`);
    return;
  }
  const dnsKinds = caKinds.filter((k) => DNS_KINDS.includes(k));
  // A CA that never hands out http-01 cannot prove an IP address, whatever the DCV.
  const ipProblem = caKinds.includes("http-01")
    ? `IP addresses need an http-01 DCV; ${solves}`
    : `IP addresses need http-01, and ca ${quote(ca.name)} (type ${ca.type}) validates with ${caKinds.map((k) => KIND_WORDS[k]).join(" or ")} only`;
  for (const { kind, item } of names) {
    if (kind === "wildcard" && !usable.some((k) => DNS_KINDS.includes(k))) r.ctx.problems.add(item.key, `wildcard names need a ${dnsKinds.join(" or ") || "DNS"} DCV; ${solves}`);
    if (kind === "ip" && !usable.includes("http-01")) r.ctx.problems.add(item.key, ipProblem);
  }
}

/**
 * `install`: one target name or a list of them, each an `[[install]]`, each once. A target
 * whose type holds one certificate (a DSM entry, a Kubernetes Secret) serves one cert only:
 * two would overwrite each other at every renewal.
 */
function readInstall(r: Reader, installs: Map<string, BackendSection>, declared: Set<string>, certId: string | undefined, claimed: Map<string, string>): StringList | undefined {
  const install = r.stringList("install", ONE_OR_LIST);
  // Absent or empty; a value of the wrong type has its own problem already.
  if (install === undefined ? !r.has("install") : install.complete && install.items.length === 0) {
    r.problem("install", "is required: name at least one [[install]]");
  }
  const items = install?.items ?? [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const name = item.value;
    const section = installs.get(name);
    if (listedBefore(items, i)) r.ctx.problems.add(item.key, `${quote(name)} is listed twice`);
    else if (!section) {
      if (!declared.has(name)) r.ctx.problems.add(item.key, `no [[install]] named ${quote(name)}`);
    }
    else if (INSTALL_TYPES[section.type]?.singleCert) {
      const owner = claimed.get(name);
      if (owner !== undefined) r.ctx.problems.add(item.key, `install ${quote(name)} (type ${section.type}) holds one certificate; cert ${quote(owner)} already uses it`);
      else if (certId !== undefined) claimed.set(name, certId);
    }
  }
  return install;
}

/**
 * Whether an item before `items[i]` has its value. A cert names a few targets: a scan is
 * cheaper than a `Set` per cert, which was a sixth of a start's validation at 10,000 certs.
 */
function listedBefore(items: readonly ListItem[], i: number): boolean {
  const value = items[i]!.value;
  for (let j = 0; j < i; j++) if (items[j]!.value === value) return true;
  return false;
}

/**
 * A private key inside a folder a webserver hands out is served to whoever asks for it:
 * every place keys are written is checked against every DCV's public folders, as written
 * and with symlinks resolved (a symlinked webroot is the same folder).
 */
function checkKeysNotServed(problems: Problems, keys: KeyLocation[], dcvs: KeyedSection[]): void {
  const served: Array<{ dcv: string; folder: ConfiguredFolder }> = dcvs.flatMap(({ section }) =>
    (DCV_TYPES[section.type]?.publicFolders?.(section.options) ?? []).map((folder) => ({ dcv: section.name, folder })),
  );
  for (const k of keys) {
    // An absent path reads as "" and has its own problem already.
    if (!isAbsolute(k.path)) continue;
    // A public folder not given (its own "is required" problem) is absent from a section that failed to validate.
    const hit = served.find((s) => typeof s.folder.path === "string" && isAbsolute(s.folder.path) && isWithin(k.path, s.folder.path));
    if (hit) {
      problems.add(
        k.key,
        `${k.path} is inside the webroot of dcv ${quote(hit.dcv)} (${hit.folder.path}): the private ${k.folder ? "keys" : "key"} would be served over HTTP`,
      );
    }
  }
}
