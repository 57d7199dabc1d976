/**
 * @module What one install target serves for a cert, bounded in time: a target that never
 * answers must not hold the tick, the status API or shutdown. A target that cannot read
 * back is taken to serve what the store says was last installed there successfully.
 */
import { canReadBack, type InstallBackend, type ReadBack } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import type { CertSummary } from "../crypto/summary.ts";
import { RotaError } from "../errors.ts";
import type { AuditStore } from "../store/types.ts";

/** How long one read-back may take before the cert is left alone until the next tick. */
export const READ_BACK_TIMEOUT_MS = 30_000;

/**
 * Read-backs still running per target and cert, each with when it began. One that outlived
 * its timeout is hung (an NFS mount that never answers holds a thread for each call): no
 * further call is stacked on it until it returns. Calls that overlap (a tick and a refresh
 * after a renewal) each keep their own entry, so a later one never hides an earlier hang.
 */
const inFlight = new WeakMap<InstallBackend, Map<string, Set<{ started: Date }>>>();

/**
 * What a target serves: its read-back or, for a target that cannot read back, the summary
 * of what the store records it was last given (`installed` null when that cannot be parsed).
 */
export type Served = ReadBack | { state: "recorded"; installed: CertSummary | null };

/**
 * The target's answer for `certId`. Rejects with RotaError("read_back_timeout") after
 * `timeoutMs` and RotaError("aborted") once `stop` fires, whether or not the backend
 * honours its signal; any other rejection is the backend's "cannot be read now".
 */
export async function readTarget(target: InstallBackend, certId: string, store: AuditStore, stop: AbortSignal, clock: Clock, timeoutMs = READ_BACK_TIMEOUT_MS): Promise<Served> {
  if (!canReadBack(target)) {
    // Read as summary columns, no PEM: this runs for every such target at every tick.
    const installed = await store.lastInstalledSummary(certId, target.name);
    if (installed) return { state: "recorded", installed };
    // No summary: nothing recorded there, or a certificate that cannot be parsed (the target then counts as damaged).
    return (await store.lastInstalled(certId, target.name)) ? { state: "recorded", installed: null } : { state: "absent" };
  }
  const calls = inFlight.get(target) ?? new Map<string, Set<{ started: Date }>>();
  inFlight.set(target, calls);
  const running = calls.get(certId) ?? new Set<{ started: Date }>();
  calls.set(certId, running);
  const since = [...running].reduce<Date | null>((a, c) => (a === null || c.started < a ? c.started : a), null);
  if (since && clock.now().getTime() - since.getTime() >= timeoutMs) {
    throw new RotaError("read_back_timeout", `${target.name}: read-back hanging since ${since.toISOString()}; not starting another until it returns`);
  }
  const deadline = new AbortController();
  const signal = AbortSignal.any([stop, deadline.signal]);
  let onAbort = () => {};
  const cut = new Promise<never>((_, reject) => {
    onAbort = () =>
      reject(
        stop.aborted
          ? new RotaError("aborted", `${target.name}: read-back cancelled`, { cause: stop.reason })
          : new RotaError("read_back_timeout", `${target.name}: read-back timed out after ${timeoutMs / 1000} s`),
      );
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  const cancelTimer = clock.setTimeout(() => deadline.abort(), timeoutMs);
  try {
    const entry = { started: clock.now() };
    running.add(entry);
    const done = () => {
      running.delete(entry);
      if (running.size === 0 && calls.get(certId) === running) calls.delete(certId);
    };
    const call = target.readBack(certId, signal);
    void call.then(done, done);
    return await Promise.race([call, cut]);
  } finally {
    cancelTimer();
    signal.removeEventListener("abort", onAbort);
  }
}
