/**
 * @module Writes a DCV backend's `publish` stopped waiting for but could not call back: a file
 * rename under way in the kernel, a request the vendor already received. Cut off from its
 * caller, such a write can still land after the renewal's `remove` ran, found nothing and let
 * the journal forget the challenge: the challenge then stays published for good. So `publish`
 * gives up on the write (`untilAborted`) without abandoning it, and `remove` first waits for
 * every write of the same challenge still running, within its own signal: in one process with
 * `UnfinishedWrites` (webroot), or under a lock file that the daemon's journal sweep takes too
 * (the DNS backends, whose writes can outlast the renewal's clean-up budget).
 */
import { RotaError } from "../../errors.ts";

/** Per key (a challenge's file or record), the writes begun and not yet ended, whether or not their caller still waits. */
export class UnfinishedWrites {
  private readonly byKey = new Map<string, Promise<void>>();

  /** Follows `write` until it ends (fulfilled or not), beside the other writes of `key` still running. */
  track(key: string, write: Promise<unknown>): void {
    const all = Promise.all([this.byKey.get(key), write.catch(() => {})]).then(() => {});
    this.byKey.set(key, all);
    void all.then(() => {
      if (this.byKey.get(key) === all) this.byKey.delete(key);
    });
  }

  /** Settles once every write of `key` begun so far has ended; at once when there is none. Never rejects. */
  settled(key: string): Promise<void> {
    return this.byKey.get(key) ?? Promise.resolve();
  }
}

/**
 * `work`, or RotaError("aborted") prefixed by `who` as soon as `signal` fires. The work is
 * not stopped: it is left to finish (or fail) on its own, its outcome unobserved here.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal, who: string): Promise<T> {
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason }));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  // Whichever loses the race must not surface as an unhandled rejection.
  work.catch(() => {});
  aborted.catch(() => {});
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}
