/** @module Sleeps that end early, rejecting, when their AbortSignal fires. */
import type { Clock } from "./clock.ts";
import { RotaError } from "./errors.ts";

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RotaError("aborted", "cancelled", { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new RotaError("aborted", "cancelled", { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `sleep` on the injected clock, so a test steps through the wait instead of sitting in it. */
export function sleepOn(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new RotaError("aborted", "cancelled", { cause: signal.reason }));
    const onAbort = () => {
      cancel();
      reject(new RotaError("aborted", "cancelled", { cause: signal.reason }));
    };
    const cancel = clock.setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
