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
export async function readTarget(target: InstallBackend, certId: string, store: AuditStore, stop: AbortSignal, clock: Clock, timeoutMs = READ_BACK_TIMEOUT_MS): Promise<ReadBack> {
  if (!canReadBack(target)) {
    const last = await store.lastInstalled(certId, target.name);
    return last ? { state: "present", leafPem: last.leafPem } : { state: "absent" };
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
    return await Promise.race([target.readBack(certId, signal), cut]);
  } finally {
    cancelTimer();
    signal.removeEventListener("abort", onAbort);
  }
}
