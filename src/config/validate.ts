/**
 * @module Turns a parsed TOML document into a RotaConfig, or the full list of what is
 * wrong with it, each problem under its zero-based key path.
 */
import { dirname, join } from "node:path";
import { KEY_TYPES, type KeyType } from "../crypto/keys.ts";
import { resolveThreshold } from "../scheduler/due.ts";
import { CA_TYPES, DCV_TYPES, INSTALL_TYPES, type BackendEntry } from "../backends/registry.ts";
import { Problems, Reader, valuesOf, type ListItem, type ReaderContext, type StringList } from "./reader.ts";
import { DEFAULT_RETENTION_DAYS, DEFAULT_SOCKET, DEFAULT_STATE_DIR, KEY_ROTATIONS, type BackendSection, type CertConfig, type DaemonConfig, type RotaConfig } from "./schema.ts";

const CERT_ID = /^[a-z0-9][a-z0-9._-]*$/;
/** A cert id becomes a folder and file names (`<dir>/<id>/`, `keys/<id>.key`). */
const CERT_ID_MAX = 64;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
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
/** A century: longer is a typo, and would put the cut-off before the epoch. */
const MAX_RETENTION_DAYS = 36500;

export type Validated = { ok: true; config: RotaConfig } | { ok: false; problems: string[] };

interface Sections {
  cas: BackendSection[];
  dcvs: BackendSection[];
  installs: BackendSection[];
}

export function validateConfig(doc: Record<string, unknown>, file: string, env: Record<string, string | undefined> = process.env): Validated {
  const ctx: ReaderContext = { problems: new Problems(), baseDir: dirname(file), env };
  const top = new Reader(doc, "", ctx);

  const daemon = readDaemon(top.child("daemon"));
  const auditReader = top.child("audit");
  auditReader.oneOf("backend", ["sqlite"] as const, "sqlite");
  const audit = {
    backend: "sqlite" as const,
    path: auditReader.path("path", { ifExists: "file" }) ?? join(daemon.stateDir, "rota.db"),
    retentionDays: auditReader.int("retention_days", { min: 1, max: MAX_RETENTION_DAYS, fallback: DEFAULT_RETENTION_DAYS }),
  };
  auditReader.finish();

  const cas = readSections(top, "ca", CA_TYPES);
  const dcvs = readSections(top, "dcv", DCV_TYPES);
  const installs = readSections(top, "install", INSTALL_TYPES);
  const certs = readCerts(top, daemon, { cas, dcvs, installs });
  top.finish();

  if (ctx.problems.list.length > 0) return { ok: false, problems: ctx.problems.list };
  return { ok: true, config: { file, daemon, audit, cas, dcvs, installs, certs } };
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
    maxConcurrentRenewals: r.int("max_concurrent_renewals", { min: 1, max: 64, fallback: 4 }),
  };
  r.finish();
  return d;
}

/** The array of tables `[[key]]`, each `{name, type, …}` read by its registry entry. */
function readSections(top: Reader, key: string, types: Record<string, BackendEntry<unknown>>): BackendSection[] {
  const out: BackendSection[] = [];
  const seen = new Set<string>();
  top.each(key, (r) => {
    const name = r.string("name", { required: true });
    const type = r.string("type", { required: true });
    if (name !== undefined) {
      if (seen.has(name)) r.problem("name", `duplicate ${key} name ${JSON.stringify(name)}`);
      seen.add(name);
    }
    const entry = type === undefined ? undefined : types[type];
    if (type !== undefined && !entry) r.problem("type", `unknown ${key} type ${JSON.stringify(type)} (known: ${Object.keys(types).join(", ")})`);
    if (!entry) {
      r.skipRest();
      return;
    }
    const options = entry.parse(r);
    r.finish();
    if (name !== undefined && type !== undefined) out.push({ name, type, options });
  });
  return out;
}

function readCerts(top: Reader, daemon: DaemonConfig, sections: Sections): CertConfig[] {
  const out: CertConfig[] = [];
  /** The key path of `out[i]` in the file ("cert[2].key_path"): invalid certs leave gaps in `out`. */
  const keyPathKeys: string[] = [];
  const ids = new Set<string>();
  const count = top.each("cert", (r) => {
    const cert = readCert(r, daemon, sections, ids);
    if (cert) {
      out.push(cert);
      keyPathKeys.push(r.key("key_path"));
    }
  });
  // A daemon with nothing to renew is a mistake, not a setup; a non-array was reported already.
  if (count === 0) top.problem("cert", "at least one [[cert]] is required");
  const keyPaths = new Map<string, string>();
  out.forEach((c, i) => {
    const other = keyPaths.get(c.keyPath);
    // A duplicate id shares its default key path; that is reported once, as the duplicate id.
    if (other !== undefined && other !== c.id) top.ctx.problems.add(keyPathKeys[i]!, `is also the key of cert ${JSON.stringify(other)}`);
    keyPaths.set(c.keyPath, c.id);
  });
  return out;
}

/** One `[[cert]]`; undefined when it is too broken to use (its problems are reported). */
function readCert(r: Reader, daemon: DaemonConfig, sections: Sections, ids: Set<string>): CertConfig | undefined {
  const id = r.string("id", { required: true, pattern: CERT_ID, patternHint: "must match [a-z0-9][a-z0-9._-]*", maxLength: CERT_ID_MAX });
  if (id !== undefined) {
    if (ids.has(id)) r.problem("id", `duplicate cert id ${JSON.stringify(id)}`);
    ids.add(id);
  }
  const domains = readDomains(r);

  const caName = r.string("ca", { required: true });
  const ca = caName === undefined ? undefined : sections.cas.find((c) => c.name === caName);
  if (caName !== undefined && !ca) r.problem("ca", `no [[ca]] named ${JSON.stringify(caName)}`);

  const dcvName = r.string("dcv");
  const dcv = dcvName === undefined ? undefined : sections.dcvs.find((d) => d.name === dcvName);
  if (dcvName !== undefined && !dcv) r.problem("dcv", `no [[dcv]] named ${JSON.stringify(dcvName)}`);
  const needsDcv = ca !== undefined && CA_TYPES[ca.type]?.needsDcv === true;
  if (dcvName === undefined && needsDcv) r.problem("dcv", `is required: ca ${JSON.stringify(ca.name)} (type ${ca.type}) validates domain control`);
  if (needsDcv && dcv) checkWildcards(r, domains?.items ?? [], dcv);

  const install = readInstall(r, sections.installs);
  const keyPath = r.path("key_path", { ifExists: "file" }) ?? join(daemon.stateDir, "keys", `${id ?? "unnamed"}.key`);
  const keyType = r.oneOf<KeyType>("key_type", KEY_TYPES, "ecdsa-p256");
  const keyRotation = r.oneOf("key_rotation", KEY_ROTATIONS, "never");
  const renewThresholdDays = r.int("renew_threshold_days", { min: 1, max: MAX_THRESHOLD_DAYS });
  const lifetime = ca ? CA_TYPES[ca.type]?.lifetimeDays?.(ca.options) : undefined;
  const threshold = resolveThreshold(renewThresholdDays, daemon.renewThresholdDays);
  if (ca && lifetime !== undefined && threshold.days >= lifetime) {
    r.problem(
      threshold.source === "cert" ? "renew_threshold_days" : "ca",
      `renewing ${threshold.days} days before expiry (${threshold.source}) with ca ${JSON.stringify(ca.name)}, which issues ${lifetime}-day certificates, would renew at every check; lower renew_threshold_days or raise validity_days`,
    );
  }
  r.finish();

  const domainNames = valuesOf(domains)?.map((d) => d.toLowerCase());
  const installNames = valuesOf(install);
  if (id === undefined || !domainNames || caName === undefined || !installNames) return undefined;
  return { id, domains: domainNames, ca: caName, dcv: dcvName, install: installNames, keyPath, keyType, keyRotation, renewThresholdDays };
}

/** `domains`: host names or `*.` wildcards, each once whatever its case. */
function readDomains(r: Reader): StringList | undefined {
  const domains = r.stringList("domains");
  if (domains === undefined) {
    // Absent; a value of the wrong type has its own problem already.
    if (!r.has("domains")) r.problem("domains", "is required");
    return undefined;
  }
  if (domains.complete && domains.items.length === 0) r.problem("domains", "must not be empty");
  const seen = new Set<string>();
  for (const { value, key } of domains.items) {
    const name = value.toLowerCase();
    if (!isHostName(name)) r.ctx.problems.add(key, `${JSON.stringify(name)} is not a valid host name`);
    else if (seen.has(name)) r.ctx.problems.add(key, `${JSON.stringify(name)} is listed twice`);
    seen.add(name);
  }
  return domains;
}

/**
 * A wildcard name can be proven only over DNS: since CA/Browser Forum ballot SC45 (2021)
 * the Baseline Requirements' HTTP methods (3.2.2.4.18, .19) may not validate wildcards,
 * so ACME CAs offer only dns-01 for them.
 */
function checkWildcards(r: Reader, domains: ListItem[], dcv: BackendSection): void {
  const kinds = DCV_TYPES[dcv.type]?.kinds ?? [];
  if (kinds.includes("dns-01")) return;
  for (const { value, key } of domains) {
    // A malformed name has its own problem already.
    if (value.startsWith("*.") && isHostName(value.toLowerCase())) {
      r.ctx.problems.add(key, `wildcard names need a dns-01 DCV; dcv ${JSON.stringify(dcv.name)} (type ${dcv.type}) solves ${kinds.join(", ") || "nothing"}`);
    }
  }
}

/** `install`: one target name or a list of them, each an `[[install]]`, each once. */
function readInstall(r: Reader, installs: BackendSection[]): StringList | undefined {
  const install = r.stringList("install", { oneOrList: true });
  // Absent or empty; a value of the wrong type has its own problem already.
  if (install === undefined ? !r.has("install") : install.complete && install.items.length === 0) {
    r.problem("install", "is required: name at least one [[install]]");
  }
  const seen = new Set<string>();
  for (const { value: name, key } of install?.items ?? []) {
    if (seen.has(name)) r.ctx.problems.add(key, `${JSON.stringify(name)} is listed twice`);
    else if (!installs.some((s) => s.name === name)) r.ctx.problems.add(key, `no [[install]] named ${JSON.stringify(name)}`);
    seen.add(name);
  }
  return install;
}

/** A DNS host name (RFC 1123 labels) or a `*.` wildcard over one. */
function isHostName(name: string): boolean {
  const host = name.startsWith("*.") ? name.slice(2) : name;
  if (host.length === 0 || host.length > 253 || host.endsWith(".")) return false;
  const labels = host.split(".");
  return labels.length >= 1 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1] ?? "");
}
