/**
 * @module The wire format between the daemon and a renewal worker (`rota __renewal`), JSON
 * lines both ways. To the worker: a hello once at spawn (what every renewal shares), then
 * renewal requests one at a time, and cancels. Back: step events, writes for the audit
 * store (the daemon is its only writer) and each renewal's outcome.
 */
import type { BackendSection, CertConfig, InstallSection } from "../config/schema.ts";
import { COMMIT, VERSION } from "../cli/version.ts";
import { RotaError, describeError } from "../errors.ts";
import type { RotaEvent, Trigger } from "../events.ts";
import type { InstallRecord, IssuedCert } from "../store/types.ts";
import type { RunOutcome } from "./renewer.ts";

/** What every renewal of one worker shares, handed once as its first line. `[audit]` is not in it: the worker never opens the store. */
export interface ChildHello {
  /** The daemon's state folder (a restart-only key): keys, journal and backend state live there. */
  stateDir: string;
}

/** One cert's own part of the config: its `[[cert]]` and the sections it names, never the whole config. */
export interface CertSections {
  cert: CertConfig;
  ca: BackendSection;
  dcv: BackendSection | null;
  installs: InstallSection[];
}

export interface ChildRequest extends CertSections {
  renewalId: string;
  trigger: Trigger;
  installOnly?: string[];
  newKey?: boolean;
  /** ARI certID the order replaces (`RunRequest.replaces`), found by the daemon's advisor. */
  replaces?: string;
  /** The cert's newest stored certificate, what an install-only run re-installs: the worker never opens the audit store. */
  latestIssued: IssuedCert | null;
  /**
   * The daemon's build. The child runs whatever file the daemon's path holds now: after an
   * upgrade swapped it, a newer child must not act beneath an older daemon (issue 15 §6).
   */
  daemon?: { version: string; commit: string };
}

/** A line from the daemon, after the hello. A cancel for a renewal the worker is not running is ignored. */
export type DaemonLine = { renew: ChildRequest } | { cancel: { renewalId: string; reason: string } };

const TRIGGERS: Record<Trigger, true> = { scheduled: true, manual: true, startup: true, reload: true, sync: true };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isDate = (v: unknown): v is Date | string => (v instanceof Date || typeof v === "string") && !Number.isNaN(new Date(v).getTime());
/** The store keeps certificates, never keys: a PEM with a private key in it is refused, not stored. */
const isPublicPem = (v: unknown): v is string => typeof v === "string" && !v.includes("PRIVATE KEY");

/** The fields named `<what>.<field>` that are missing or of the wrong type (all of `what` when it is not an object). */
function badFields(what: string, v: unknown, checks: (o: Record<string, unknown>) => Record<string, boolean>): string[] {
  if (!isObject(v)) return [what];
  return Object.entries(checks(v))
    .filter(([, ok]) => !ok)
    .map(([field]) => `${what}.${field}`);
}

const issuedChecks = (o: Record<string, unknown>) => ({
  certId: typeof o.certId === "string",
  renewalId: typeof o.renewalId === "string",
  leafPem: isPublicPem(o.leafPem),
  chainPem: isPublicPem(o.chainPem),
  serial: typeof o.serial === "string",
  notBefore: isDate(o.notBefore),
  notAfter: isDate(o.notAfter),
  issuedAt: isDate(o.issuedAt),
});

const installChecks = (o: Record<string, unknown>) => ({
  certId: typeof o.certId === "string",
  target: typeof o.target === "string",
  serial: typeof o.serial === "string",
  installedAt: isDate(o.installedAt),
});

/** Exactly the fields of an issued certificate, dates as Dates: nothing else the sender put in is passed on. Checked first. */
function issuedOf(o: Record<string, unknown>): IssuedCert {
  const s = (k: string) => o[k] as string;
  const d = (k: string) => new Date(o[k] as Date | string);
  return { certId: s("certId"), renewalId: s("renewalId"), leafPem: s("leafPem"), chainPem: s("chainPem"), serial: s("serial"), notBefore: d("notBefore"), notAfter: d("notAfter"), issuedAt: d("issuedAt") };
}

const isSection = (v: unknown): v is BackendSection => isObject(v) && typeof v.name === "string" && typeof v.type === "string";
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

/** Parses a line as JSON, or throws a RotaError("bad_request") saying what it is instead. */
function jsonObject(line: string, what: string): Record<string, unknown> {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    throw new RotaError("bad_request", `pipeline: bad ${what}: not JSON`, { cause: err });
  }
  if (!isObject(msg)) throw new RotaError("bad_request", `pipeline: bad ${what}: not a JSON object`);
  return msg;
}

/** Reads the worker's first line; throws a RotaError("bad_request") when it is not a hello. */
export function parseHello(line: string): ChildHello {
  const { hello } = jsonObject(line, "worker hello");
  if (!isObject(hello) || typeof hello.stateDir !== "string") throw new RotaError("bad_request", "pipeline: bad worker hello: missing or invalid hello.stateDir");
  return { stateDir: hello.stateDir };
}

/**
 * Reads a line from the daemon. Throws a RotaError("bad_request") naming what is wrong
 * when the line is not JSON or a field the worker relies on is missing or of the wrong type.
 */
export function parseDaemonLine(line: string): DaemonLine {
  const msg = jsonObject(line, "renewal request");
  if ("cancel" in msg) {
    const c = msg.cancel;
    if (!isObject(c) || typeof c.renewalId !== "string" || typeof c.reason !== "string") throw new RotaError("bad_request", "pipeline: bad cancel: missing or invalid renewalId, reason");
    return { cancel: { renewalId: c.renewalId, reason: c.reason } };
  }
  if (!("renew" in msg)) throw new RotaError("bad_request", "pipeline: bad renewal request: neither renew nor cancel");
  return { renew: parseChildRequest(msg.renew) };
}

/** Checks one renewal request field by field; throws a RotaError("bad_request") naming every bad one. */
export function parseChildRequest(req: unknown): ChildRequest {
  if (!isObject(req)) throw new RotaError("bad_request", "pipeline: bad renewal request: not a JSON object");
  const { cert, ca, dcv, installs, renewalId, trigger, installOnly, latestIssued } = req;
  const fields: Array<[string, boolean]> = [
    ["cert", isObject(cert) && typeof cert.id === "string" && isStrings(cert.domains) && isStrings(cert.install)],
    ["ca", isSection(ca)],
    ["dcv", dcv === null || isSection(dcv)],
    ["installs", Array.isArray(installs) && installs.every(isSection)],
    ["renewalId", typeof renewalId === "string"],
    ["trigger", typeof trigger === "string" && Object.hasOwn(TRIGGERS, trigger)],
    ["installOnly", installOnly === undefined || isStrings(installOnly)],
  ];
  const bad = fields.filter(([, ok]) => !ok).map(([name]) => name);
  if (latestIssued !== null) bad.push(...badFields("latestIssued", latestIssued, issuedChecks));
  if (bad.length > 0) throw new RotaError("bad_request", `pipeline: bad renewal request: missing or invalid ${bad.join(", ")}`);
  refuseOtherBuild(req.daemon);
  return { ...(req as unknown as ChildRequest), latestIssued: latestIssued === null ? null : issuedOf(latestIssued as Record<string, unknown>) };
}

/** A request from a daemon of another build than this binary is refused, naming both. */
function refuseOtherBuild(daemon: unknown): void {
  if (!isObject(daemon)) return;
  if (daemon.version === VERSION && daemon.commit === COMMIT) return;
  const build = (version: unknown, commit: unknown) => (daemon.version === VERSION ? `${String(version)} ${String(commit)}` : String(version));
  // Not noRetry: a restart fixes it, and a cooldown at its cap would outlive the restart.
  throw new RotaError("binary_replaced", `rota was replaced while the daemon runs (daemon ${build(daemon.version, daemon.commit)}, binary ${build(VERSION, COMMIT)}): restart the daemon`);
}

export interface WireError {
  message: string;
  code: string;
  noRetry: boolean;
  retryAfterSeconds?: number;
}

/** A write the pipeline asks of the audit store; the daemon applies them in the order they come. */
export type StoreWrite = { store: "issued"; issued: IssuedCert } | { store: "installed"; installed: InstallRecord };

export type ChildLine =
  | { event: RotaEvent }
  | StoreWrite
  | OutcomeLine;

/** A renewal's end, with the worker's resident memory after it: the pool recycles a worker grown past its ceiling. */
export interface OutcomeLine {
  outcome: { ok: true; issued: IssuedCert } | { ok: false; error: WireError; interrupted: boolean };
  rssBytes?: number;
}

export function outcomeToWire(o: RunOutcome, rssBytes?: number): OutcomeLine {
  if (o.ok) return { outcome: o, rssBytes };
  const e = o.error;
  return {
    outcome: {
      ok: false,
      interrupted: o.interrupted,
      error: {
        message: describeError(e),
        code: e instanceof RotaError ? e.code : "error",
        noRetry: e instanceof RotaError && e.noRetry,
        retryAfterSeconds: e instanceof RotaError ? e.retryAfterSeconds : undefined,
      },
    },
    rssBytes,
  };
}

/**
 * Parses one line from the worker, turning ISO strings back into Dates where the types say
 * Date. A store write is checked field by field, like the request: one that is not what
 * the store takes throws a RotaError("bad_store_write") naming what is wrong.
 */
export function parseChildLine(line: string): ChildLine {
  const msg: unknown = JSON.parse(line, (key, value) =>
    typeof value === "string" && DATE_KEYS.has(key) && /^\d{4}-\d\d-\d\dT/.test(value) ? new Date(value) : value,
  );
  return isObject(msg) && "store" in msg ? parseStoreWrite(msg) : (msg as ChildLine);
}

const DATE_KEYS = new Set(["at", "notBefore", "notAfter", "issuedAt", "retryAt", "installedAt"]);

function parseStoreWrite(msg: Record<string, unknown>): StoreWrite {
  const refuse = (what: string) => new RotaError("bad_store_write", `pipeline: bad store write from the renewal process: ${what}`);
  if (msg.store === "issued") {
    const bad = badFields("issued", msg.issued, issuedChecks);
    if (bad.length > 0) throw refuse(`missing or invalid ${bad.join(", ")}`);
    return { store: "issued", issued: issuedOf(msg.issued as Record<string, unknown>) };
  }
  if (msg.store === "installed") {
    const bad = badFields("installed", msg.installed, installChecks);
    if (bad.length > 0) throw refuse(`missing or invalid ${bad.join(", ")}`);
    const o = msg.installed as Record<string, unknown>;
    return { store: "installed", installed: { certId: o.certId as string, target: o.target as string, serial: o.serial as string, installedAt: new Date(o.installedAt as Date) } };
  }
  throw refuse(`unknown kind ${JSON.stringify(msg.store)}`);
}

export function outcomeFromWire(line: OutcomeLine): RunOutcome {
  const o = line.outcome;
  if (o.ok) return o;
  const error = new RotaError(o.error.code, o.error.message, { noRetry: o.error.noRetry, retryAfterSeconds: o.error.retryAfterSeconds });
  return { ok: false, error, interrupted: o.interrupted };
}
