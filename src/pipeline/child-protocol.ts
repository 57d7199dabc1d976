/**
 * @module The wire format between the daemon and a renewal child process: one JSON
 * request on stdin; JSON lines back on stdout, each a step event or the final outcome.
 */
import type { RotaConfig } from "../config/schema.ts";
import { RotaError, describeError } from "../errors.ts";
import type { RotaEvent, Trigger } from "../events.ts";
import type { IssuedCert } from "../store/types.ts";
import type { RunOutcome } from "./renewer.ts";

export interface ChildRequest {
  /** The daemon's config as it loaded it, so a file edited since cannot mix two configs in one daemon. */
  config: RotaConfig;
  certId: string;
  renewalId: string;
  trigger: Trigger;
  installOnly?: string[];
  newKey?: boolean;
}

const TRIGGERS: Record<Trigger, true> = { scheduled: true, manual: true, startup: true, reload: true };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Reads the daemon's request line. Throws a RotaError("bad_request") naming what is wrong
 * when the line is not JSON or a field the child relies on is missing or of the wrong type.
 */
export function parseChildRequest(line: string): ChildRequest {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch (err) {
    throw new RotaError("bad_request", "pipeline: bad renewal request: not JSON", { cause: err });
  }
  if (!isObject(req)) throw new RotaError("bad_request", "pipeline: bad renewal request: not a JSON object");
  const { config, certId, renewalId, trigger, installOnly } = req;
  const fields: Array<[string, boolean]> = [
    ["config.audit.path", isObject(config) && isObject(config.audit) && typeof config.audit.path === "string"],
    ["config.daemon.stateDir", isObject(config) && isObject(config.daemon) && typeof config.daemon.stateDir === "string"],
    ["certId", typeof certId === "string"],
    ["renewalId", typeof renewalId === "string"],
    ["trigger", typeof trigger === "string" && Object.hasOwn(TRIGGERS, trigger)],
    ["installOnly", installOnly === undefined || (Array.isArray(installOnly) && installOnly.every((t) => typeof t === "string"))],
  ];
  const bad = fields.filter(([, ok]) => !ok).map(([name]) => name);
  if (bad.length > 0) throw new RotaError("bad_request", `pipeline: bad renewal request: missing or invalid ${bad.join(", ")}`);
  return req as unknown as ChildRequest;
}

export interface WireError {
  message: string;
  code: string;
  noRetry: boolean;
  retryAfterSeconds?: number;
}

export type ChildLine =
  | { event: RotaEvent }
  | { outcome: { ok: true; issued: IssuedCert } | { ok: false; error: WireError; interrupted: boolean } };

export function outcomeToWire(o: RunOutcome): ChildLine {
  if (o.ok) return { outcome: o };
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
  };
}

/** Parses one line from the child, turning ISO strings back into Dates where the types say Date. */
export function parseChildLine(line: string): ChildLine {
  return JSON.parse(line, (key, value) =>
    typeof value === "string" && DATE_KEYS.has(key) && /^\d{4}-\d\d-\d\dT/.test(value) ? new Date(value) : value,
  ) as ChildLine;
}

const DATE_KEYS = new Set(["at", "notBefore", "notAfter", "issuedAt", "retryAt"]);

export function outcomeFromWire(line: Extract<ChildLine, { outcome: unknown }>): RunOutcome {
  const o = line.outcome;
  if (o.ok) return o;
  const error = new RotaError(o.error.code, o.error.message, { noRetry: o.error.noRetry, retryAfterSeconds: o.error.retryAfterSeconds });
  return { ok: false, error, interrupted: o.interrupted };
}
