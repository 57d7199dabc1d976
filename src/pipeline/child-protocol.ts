/**
 * @module The wire format between the daemon and a renewal worker (`rota __renewal`), JSON
 * lines both ways. To the worker: a hello once at spawn (what every renewal shares), then
 * renewal requests one at a time, and cancels. Back: step events, writes for the audit
 * store (the daemon is its only writer), the process groups of the commands it runs, and
 * each renewal's outcome.
 * Install records are not answered; an issued certificate (fenced in cluster mode) is: the
 * daemon answers it with a `stored` line once the store took or refused it, and the worker
 * installs nothing before that answer.
 */
import type { Fence } from "../cluster/types.ts";
import type { BackendSection, CertConfig, InstallSection } from "../config/schema.ts";
import { COMMIT, VERSION } from "../cli/version.ts";
import { RotaError, describeError } from "../errors.ts";
import type { RotaEvent, Trigger } from "../events.ts";
import type { InstallRecord, IssuedCert } from "../store/types.ts";
import type { CommandGroup } from "../backends/install/command.ts";
import type { RunOutcome } from "./renewer.ts";

/** What every renewal of one worker shares, handed once as its first line. `[audit]` is not in it: the worker never opens the store. */
export interface ChildHello {
  /** The daemon's state folder (a restart-only key): keys, journal and backend state live there. */
  stateDir: string;
  /**
   * Every variable a `*_env` key of the whole config names (`secretEnvNames`): the commands the
   * worker runs do not inherit them. The worker sees only its certs' sections, so the daemon
   * tells it; a reload that changes the list retires the workers started with the old one.
   * Null in an older daemon's hello (a binary replaced under it): no renewal runs then.
   */
  withheldEnv: string[] | null;
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
  /** Set: a cluster-mode run (`RunRequest.cluster`): the key only loaded, never an order without the fence, no local CA root made. */
  cluster?: { fence: Fence | null };
}

/** The daemon's answer to a fenced write: `error` null when the store took it, else why not (`fenced`: another node leads). */
export interface StoredAck {
  renewalId: string;
  serial: string;
  error: WireError | null;
}

/**
 * A line from the daemon, after the hello. A cancel for a renewal the worker is not running
 * is ignored, and so is an answer to a write no renewal waits for.
 */
export type DaemonLine = { renew: ChildRequest } | { cancel: { renewalId: string; reason: string } } | { stored: StoredAck };

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

const isFence = (v: unknown): v is Fence => isObject(v) && typeof v.nodeId === "string" && typeof v.instance === "string" && Number.isSafeInteger(v.term);

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
  const { stateDir, withheldEnv } = isObject(hello) ? hello : {};
  // No list at all: an older daemon's hello (the binary was replaced under it). Kept as null,
  // never defaulted: every renewal it asks for is refused (`refusedRenewal`), so no command
  // runs with every secret, and the request's version check says to restart the daemon.
  const bad = [...(typeof stateDir === "string" ? [] : ["hello.stateDir"]), ...(withheldEnv === undefined || isStrings(withheldEnv) ? [] : ["hello.withheldEnv"])];
  if (bad.length > 0) throw new RotaError("bad_request", `pipeline: bad worker hello: missing or invalid ${bad.join(", ")}`);
  return { stateDir: stateDir as string, withheldEnv: withheldEnv === undefined ? null : (withheldEnv as string[]) };
}

/** Why a worker started with `hello` runs no renewal, or null when it may run them. */
export function refusedRenewal(hello: ChildHello): RotaError | null {
  return hello.withheldEnv === null ? new RotaError("bad_request", "pipeline: the worker's hello has no withheldEnv (a daemon of another version?): restart the daemon", { noRetry: true }) : null;
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
  if ("stored" in msg) {
    const a = msg.stored;
    const e = isObject(a) ? a.error : undefined;
    const errorOk = e === null || (isObject(e) && typeof e.message === "string" && typeof e.code === "string" && typeof e.noRetry === "boolean");
    if (!isObject(a) || typeof a.renewalId !== "string" || typeof a.serial !== "string" || !errorOk) throw new RotaError("bad_request", "pipeline: bad store answer: missing or invalid renewalId, serial, error");
    return { stored: { renewalId: a.renewalId, serial: a.serial, error: e === null ? null : (e as unknown as WireError) } };
  }
  if (!("renew" in msg)) throw new RotaError("bad_request", "pipeline: bad renewal request: neither renew nor cancel");
  return { renew: parseChildRequest(msg.renew) };
}

/** Checks one renewal request field by field; throws a RotaError("bad_request") naming every bad one. */
export function parseChildRequest(req: unknown): ChildRequest {
  if (!isObject(req)) throw new RotaError("bad_request", "pipeline: bad renewal request: not a JSON object");
  const { cert, ca, dcv, installs, renewalId, trigger, installOnly, latestIssued, cluster } = req;
  const fields: Array<[string, boolean]> = [
    ["cert", isObject(cert) && typeof cert.id === "string" && isStrings(cert.domains) && isStrings(cert.install)],
    ["ca", isSection(ca)],
    ["dcv", dcv === null || isSection(dcv)],
    ["installs", Array.isArray(installs) && installs.every(isSection)],
    ["renewalId", typeof renewalId === "string"],
    ["trigger", typeof trigger === "string" && Object.hasOwn(TRIGGERS, trigger)],
    ["installOnly", installOnly === undefined || isStrings(installOnly)],
    ["cluster", cluster === undefined || (isObject(cluster) && (cluster.fence === null || isFence(cluster.fence)))],
  ];
  const bad = fields.filter(([, ok]) => !ok).map(([name]) => name);
  if (latestIssued !== null) bad.push(...badFields("latestIssued", latestIssued, issuedChecks));
  if (bad.length > 0) throw new RotaError("bad_request", `pipeline: bad renewal request: missing or invalid ${bad.join(", ")}`);
  refuseOtherBuild(req.daemon);
  const clusterRun = cluster === undefined ? {} : { cluster: { fence: fenceOf((cluster as { fence: Fence | null }).fence) } };
  return { ...(req as unknown as ChildRequest), latestIssued: latestIssued === null ? null : issuedOf(latestIssued as Record<string, unknown>), ...clusterRun };
}

/** Exactly a fence's fields: it is handed to the store as it is. */
function fenceOf(f: Fence | null): Fence | null {
  return f && { nodeId: f.nodeId, instance: f.instance, term: f.term };
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

/**
 * A write the pipeline asks of the audit store; the daemon applies them in the order they
 * come. An issued certificate is answered (`StoredAck`); with a `fence` it is stored only under that lease.
 */
export type StoreWrite = { store: "issued"; issued: IssuedCert; fence?: Fence } | { store: "installed"; installed: InstallRecord };

/**
 * A command the worker runs (`post_install_command`, a reload) started in its own process
 * group, or its leader exited. The daemon kills the groups still running when the worker
 * dies: killed, the worker could not (worker-pool.ts).
 */
export interface GroupLine {
  group: CommandGroup;
}

export type ChildLine =
  | { event: RotaEvent }
  | StoreWrite
  | GroupLine
  | OutcomeLine;

/** A renewal's end, with the worker's resident memory after it: the pool recycles a worker grown past its ceiling. */
export interface OutcomeLine {
  outcome: { ok: true; issued: IssuedCert; ordered?: true } | { ok: false; error: WireError; interrupted: boolean };
  rssBytes?: number;
  /**
   * True: a vendor write is still in flight in the worker, its challenge to be removed once it
   * ends (renewer.ts). Told to exit, the worker waits for it (WRITE_SETTLE_MS at most), and is
   * not killed for that.
   */
  lingering?: boolean;
}

export function outcomeToWire(o: RunOutcome, rssBytes?: number, lingering = false): OutcomeLine {
  const more = lingering ? { rssBytes, lingering } : { rssBytes };
  if (o.ok) return { outcome: o, ...more };
  return { outcome: { ok: false, interrupted: o.interrupted, error: errorToWire(o.error) }, ...more };
}

export function errorToWire(e: unknown): WireError {
  return {
    message: describeError(e),
    code: e instanceof RotaError ? e.code : "error",
    noRetry: e instanceof RotaError && e.noRetry,
    retryAfterSeconds: e instanceof RotaError ? e.retryAfterSeconds : undefined,
  };
}

export function errorFromWire(e: WireError): RotaError {
  return new RotaError(e.code, e.message, { noRetry: e.noRetry, retryAfterSeconds: e.retryAfterSeconds });
}

/**
 * Parses one line from the worker, turning ISO strings back into Dates where the types say
 * Date: an event's own fields (events are flat) and a success's issued certificate. A store
 * write is checked field by field, like the request: one that is not what the store takes
 * throws a RotaError("bad_store_write") naming what is wrong.
 * Not a JSON.parse reviver: it is called for every value of every line, which made parsing
 * the lines of a renewal ten times slower on the daemon's thread (issue 11).
 */
export function parseChildLine(line: string): ChildLine {
  const msg: unknown = JSON.parse(line);
  if (!isObject(msg)) return msg as ChildLine;
  if ("store" in msg) return parseStoreWrite(msg);
  if ("group" in msg) return { group: parseGroup(msg.group) };
  if (isObject(msg.event)) reviveDates(msg.event);
  else if (isObject(msg.outcome) && isObject(msg.outcome.issued)) reviveDates(msg.outcome.issued);
  return msg as ChildLine;
}

const DATE_KEYS = ["at", "notBefore", "notAfter", "issuedAt", "retryAt", "installedAt"] as const;

/** Each of `o`'s own date fields that holds an ISO time, as a Date. */
function reviveDates(o: Record<string, unknown>): void {
  for (const key of DATE_KEYS) {
    const value = o[key];
    if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) o[key] = new Date(value);
  }
}

/**
 * A group the daemon may be asked to kill: never 0 or 1 (`kill(0)` is the caller's own group,
 * `kill(-1)` every process it may signal), nor the daemon's own pid.
 */
function parseGroup(g: unknown): CommandGroup {
  const ok = isObject(g) && Number.isSafeInteger(g.pgid) && (g.pgid as number) > 1 && g.pgid !== process.pid && typeof g.key === "string" && typeof g.running === "boolean";
  if (!ok) throw new RotaError("bad_group", "pipeline: bad command group from the renewal process: missing or invalid pgid, key, running");
  return { pgid: g.pgid as number, key: g.key as string, running: g.running as boolean };
}

function parseStoreWrite(msg: Record<string, unknown>): StoreWrite {
  const refuse = (what: string) => new RotaError("bad_store_write", `pipeline: bad store write from the renewal process: ${what}`);
  if (msg.store === "issued") {
    const bad = badFields("issued", msg.issued, issuedChecks);
    if (msg.fence !== undefined && !isFence(msg.fence)) bad.push("fence");
    if (bad.length > 0) throw refuse(`missing or invalid ${bad.join(", ")}`);
    const issued = issuedOf(msg.issued as Record<string, unknown>);
    return msg.fence === undefined ? { store: "issued", issued } : { store: "issued", issued, fence: fenceOf(msg.fence as Fence)! };
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
  return { ok: false, error: errorFromWire(o.error), interrupted: o.interrupted };
}
