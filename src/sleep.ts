/** @module A sleep that ends early, rejecting, when its AbortSignal fires. */
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
