/**
 * @module What one install target serves for a cert, bounded in time: a target that never
 * answers must not hold the tick, the status API or shutdown. A target that cannot read
 * back is taken to serve what the store says was last installed there successfully.
 */
import { canReadBack, type InstallBackend, type ReadBack } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import { RotaError } from "../errors.ts";
import type { AuditStore } from "../store/types.ts";

/** How long one read-back may take before the cert is left alone until the next tick. */
export const READ_BACK_TIMEOUT_MS = 30_000;

/**
 * The target's answer for `certId`. Rejects with RotaError("read_back_timeout") after
 * `timeoutMs` and RotaError("aborted") once `stop` fires, whether or not the backend
 * honours its signal; any other rejection is the backend's "cannot be read now".
 */
/**
 * Read-backs still running per target and cert, with when they began. One that outlived its
 * timeout is hung (an NFS mount that never answers holds a thread for each call): no second
 * call is stacked on it until it returns.
 */
const inFlight = new WeakMap<InstallBackend, Map<string, Date>>();

export async function readTarget(target: InstallBackend, certId: string, store: AuditStore, stop: AbortSignal, clock: Clock, timeoutMs = READ_BACK_TIMEOUT_MS): Promise<ReadBack> {
  if (!canReadBack(target)) {
    const last = await store.lastInstalled(certId, target.name);
    return last ? { state: "present", leafPem: last.leafPem } : { state: "absent" };
  }
  const calls = inFlight.get(target) ?? new Map<string, Date>();
  inFlight.set(target, calls);
  const since = calls.get(certId);
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
    const started = clock.now();
    calls.set(certId, started);
    const call = target.readBack(certId, signal);
    void call.then(
      () => calls.get(certId) === started && calls.delete(certId),
      () => calls.get(certId) === started && calls.delete(certId),
    );
    return await Promise.race([call, cut]);
  } finally {
    cancelTimer();
    signal.removeEventListener("abort", onAbort);
  }
}
