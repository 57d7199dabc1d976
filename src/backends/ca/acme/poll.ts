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

export async function pollUntilValid(client: acme.Client, url: string, who: string, what: string, clock: Clock, signal: AbortSignal): Promise<Polled> {
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
      throw new RotaError("validation_failed", `${who}: ${what} ${item.status}: ${describeFailure(item)}`);
    }
    if (clock.now().getTime() > deadline) throw new RotaError("timeout", `${who}: ${what} still ${item.status} after ${DEADLINE_MS / 60_000} minutes`);
    delay = nextDelayMs(delay, parseRetryAfter(resp.headers["retry-after"], clock.now()));
    await sleep(delay, signal);
  }
}

function describeFailure(item: Polled): string {
  const failed = item.challenges?.find((c) => c.error);
  const err = failed?.error ?? item.error;
  return err?.detail ?? err?.type ?? "no detail from the CA";
}
