/**
 * @module Turns a parsed TOML document into a RotaConfig, or the full list of what is
 * wrong with it, each problem under its zero-based key path.
 */
import { dirname, join } from "node:path";
import { KEY_TYPES, type KeyType } from "../crypto/keys.ts";
import { CA_TYPES, DCV_TYPES, INSTALL_TYPES, type BackendEntry } from "../backends/registry.ts";
import { Problems, Reader, isTable, type ReaderContext } from "./reader.ts";
import { DEFAULT_SOCKET, DEFAULT_STATE_DIR, type BackendSection, type CertConfig, type DaemonConfig, type RotaConfig } from "./schema.ts";

const CERT_ID = /^[a-z0-9][a-z0-9._-]*$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

export type Validated = { ok: true; config: RotaConfig } | { ok: false; problems: string[] };

export function validateConfig(doc: Record<string, unknown>, file: string, env: Record<string, string | undefined> = process.env): Validated {
  const ctx: ReaderContext = { problems: new Problems(), baseDir: dirname(file), env };
  const top = new Reader(doc, "", ctx);

  const daemon = readDaemon(top.child("daemon"));
  const auditReader = top.child("audit");
  auditReader.oneOf("backend", ["sqlite"] as const, "sqlite");
  const audit = { backend: "sqlite" as const, path: auditReader.path("path") ?? join(daemon.stateDir, "rota.db") };
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
  const stateDir = r.path("state_dir") ?? DEFAULT_STATE_DIR;
  const cooldown = r.int("failure_cooldown_seconds", { min: 1, fallback: 900 });
  const cooldownMax = r.int("failure_cooldown_max_seconds", { min: 1, fallback: 86400 });
  if (cooldownMax < cooldown) r.problem("failure_cooldown_max_seconds", "must not be less than failure_cooldown_seconds");
  const d: DaemonConfig = {
    stateDir,
    socket: r.path("socket") ?? DEFAULT_SOCKET,
    checkIntervalSeconds: r.int("check_interval_seconds", { min: 1, fallback: 3600 }),
    renewThresholdDays: r.int("renew_threshold_days", { min: 0, max: 3650 }),
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

function readCerts(
  top: Reader,
  daemon: DaemonConfig,
  sections: { cas: BackendSection[]; dcvs: BackendSection[]; installs: BackendSection[] },
): CertConfig[] {
  const out: CertConfig[] = [];
  /** The key path of `out[i]` in the file ("cert[2].key_path"): invalid certs leave gaps in `out`. */
  const keyPathKeys: string[] = [];
  const ids = new Set<string>();
  top.each("cert", (r) => {
    const id = r.string("id", { required: true, pattern: CERT_ID, patternHint: "must match [a-z0-9][a-z0-9._-]*" });
    if (id !== undefined) {
      if (ids.has(id)) r.problem("id", `duplicate cert id ${JSON.stringify(id)}`);
      ids.add(id);
    }
    const domains = r.stringList("domains");
    if (domains === undefined && !r.has("domains")) r.problem("domains", "is required");
    else if (domains !== undefined && domains.length === 0) r.problem("domains", "must not be empty");
    const lowered = (domains ?? []).map((d) => d.toLowerCase());
    lowered.forEach((d, i) => {
      if (!isHostName(d)) r.ctx.problems.add(`${r.key("domains")}[${i}]`, `${JSON.stringify(d)} is not a valid host name`);
      else if (lowered.indexOf(d) !== i) r.ctx.problems.add(`${r.key("domains")}[${i}]`, `${JSON.stringify(d)} is listed twice`);
    });

    const caName = r.string("ca", { required: true });
    const ca = caName === undefined ? undefined : sections.cas.find((c) => c.name === caName);
    if (caName !== undefined && !ca) r.problem("ca", `no [[ca]] named ${JSON.stringify(caName)}`);

    const dcv = r.string("dcv");
    if (dcv !== undefined && !sections.dcvs.some((d) => d.name === dcv)) r.problem("dcv", `no [[dcv]] named ${JSON.stringify(dcv)}`);
    if (dcv === undefined && ca && CA_TYPES[ca.type]?.needsDcv) r.problem("dcv", `is required: ca ${JSON.stringify(ca.name)} (type ${ca.type}) validates domain control`);

    const install = r.stringList("install", { oneOrList: true });
    // Absent or empty; a value of the wrong type has its own problem already.
    if (install === undefined ? !r.has("install") : install.length === 0) r.problem("install", "is required: name at least one [[install]]");
    for (const [i, name] of (install ?? []).entries()) {
      if (!sections.installs.some((s) => s.name === name)) {
        r.problem(r.isList("install") ? `install[${i}]` : "install", `no [[install]] named ${JSON.stringify(name)}`);
      }
    }

    const keyPath = r.path("key_path") ?? join(daemon.stateDir, "keys", `${id ?? "unnamed"}.key`);
    const keyType = r.oneOf<KeyType>("key_type", KEY_TYPES, "ecdsa-p256");
    const renewThresholdDays = r.int("renew_threshold_days", { min: 0, max: 3650 });
    r.finish();
    if (id !== undefined && domains && caName !== undefined && install) {
      out.push({ id, domains: lowered, ca: caName, dcv, install, keyPath, keyType, renewThresholdDays });
      keyPathKeys.push(r.key("key_path"));
    }
  });
  const keyPaths = new Map<string, string>();
  out.forEach((c, i) => {
    const other = keyPaths.get(c.keyPath);
    // A duplicate id shares its default key path; that is reported once, as the duplicate id.
    if (other !== undefined && other !== c.id) top.ctx.problems.add(keyPathKeys[i]!, `is also the key of cert ${JSON.stringify(other)}`);
    keyPaths.set(c.keyPath, c.id);
  });
  return out;
}

/** A DNS host name (RFC 1123 labels) or a `*.` wildcard over one. */
export function isHostName(name: string): boolean {
  const host = name.startsWith("*.") ? name.slice(2) : name;
  if (host.length === 0 || host.length > 253 || host.endsWith(".")) return false;
  const labels = host.split(".");
  return labels.length >= 1 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1] ?? "");
}
