/**
 * @module Polls an ACME authorization or order until it settles: a short first delay
 * that grows, the CA's Retry-After honoured (RFC 8555 §7.5.1, §7.4), a deadline, and the
 * CA's own error detail when it turns invalid.
 */
import type * as acme from "acme-client";
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { parseRetryAfter } from "../../../retry-after.ts";
import { sleep } from "../../../sleep.ts";
import { AcmeProblem } from "./transport.ts";

const FIRST_DELAY_MS = 150;
const GROWTH = 1.6;
const MAX_DELAY_MS = 5_000;
const MAX_RETRY_AFTER_MS = 60_000;
const DEADLINE_MS = 10 * 60_000;

/**
 * Problem types with which an authorization turns invalid when the CA could not confirm
 * control of the name (RFC 8555 §6.7): the DCV must change before a retry can pass, and each
 * try counts against the CA's failed-validation limit, so the runner halts after a few (issue 12 §5).
 */
const DCV_PROBLEMS = new Set(["unauthorized", "connection", "dns", "caa"]);
const PROBLEM_PREFIX = "urn:ietf:params:acme:error:";

interface Polled {
  status: string;
  error?: { detail?: string; type?: string };
  challenges?: Array<{ type: string; status: string; error?: { detail?: string; type?: string } }>;
}

/** The next wait: the CA's Retry-After when it gave one (capped), else our growing delay. */
export function nextDelayMs(previousMs: number, retryAfterSeconds: number | undefined): number {
  // A Retry-After of 0 (or a past date) must not turn polling into a busy loop.
  if (retryAfterSeconds !== undefined) return Math.max(FIRST_DELAY_MS, Math.min(retryAfterSeconds * 1000, MAX_RETRY_AFTER_MS));
  return previousMs === 0 ? FIRST_DELAY_MS : Math.min(previousMs * GROWTH, MAX_DELAY_MS);
}

export async function pollUntilValid(client: acme.Client, url: string, who: string, what: "authorization" | "order", clock: Clock, signal: AbortSignal): Promise<Polled> {
  // acme-client exposes no poll that returns headers; its internal api does (stable through 5.x).
  const api = (client as unknown as { api: { apiRequest(url: string, payload: null, ok: number[]): Promise<{ data: Polled; headers: Record<string, string> }> } }).api;
  const deadline = clock.now().getTime() + DEADLINE_MS;
  let delay = 0;
  for (;;) {
    let resp;
    try {
      resp = await api.apiRequest(url, null, [200]);
    } catch (err) {
      if (err instanceof AcmeProblem) throw new AcmeProblem(`${who}: polling ${what}: ${err.detail}`, err.detail, err.acmeType, err.status);
      if (err instanceof RotaError) throw err;
      throw new RotaError("ca_error", `${who}: polling ${what}: ${(err as Error).message}`, { cause: err });
    }
    const item = resp.data;
    if (item.status === "valid") return item;
    if (item.status === "invalid" || item.status === "revoked" || item.status === "expired" || item.status === "deactivated") {
      throw new RotaError(failureCode(what, item), `${who}: ${what} ${item.status}: ${describeFailure(item)}`);
    }
    if (clock.now().getTime() > deadline) throw new RotaError("timeout", `${who}: ${what} still ${item.status} after ${DEADLINE_MS / 60_000} minutes`);
    delay = nextDelayMs(delay, parseRetryAfter(resp.headers["retry-after"], clock.now()));
    await sleep(delay, signal);
  }
}

/** `authz_invalid` for an authorization the CA could not validate (DCV_PROBLEMS); `validation_failed` for the rest. */
export function failureCode(what: "authorization" | "order", item: Polled): "authz_invalid" | "validation_failed" {
  const type = problemOf(item)?.type;
  const short = type?.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : undefined;
  return what === "authorization" && item.status === "invalid" && short !== undefined && DCV_PROBLEMS.has(short) ? "authz_invalid" : "validation_failed";
}

/** The failed challenge's problem (the CA's account of what it tried), else the item's own. */
function problemOf(item: Polled): { detail?: string; type?: string } | undefined {
  return item.challenges?.find((c) => c.error)?.error ?? item.error;
}

function describeFailure(item: Polled): string {
  const err = problemOf(item);
  return err?.detail ?? err?.type ?? "no detail from the CA";
}
