/**
 * @module Writes a DCV backend's `publish` stopped waiting for but could not call back: a file
 * rename under way in the kernel, a request the vendor already received. Cut off from its
 * caller, such a write can still land after the renewal's `remove` ran, found nothing and let
 * the journal forget the challenge: the challenge then stays published for good. So `publish`
 * gives up on the write (`untilAborted`) without abandoning it, and `remove` first waits for
 * every write of the same challenge still running, within its own signal: in one process with
 * `UnfinishedWrites` (webroot), or under a lock file that the daemon's journal sweep takes too
 * (the DNS backends, whose writes can outlast the renewal's clean-up budget).
 * A vendor request is waited out past the step's own time limit, to its reply or its
 * connection's end within a generous bound (`WRITE_SETTLE_MS`): the step fails at its limit,
 * the lock stays held, and the pipeline removes the challenge again once the write has ended
 * (`LateWrites`), so what a late write made is taken out and what it may have dropped is not re-read stale.
 */
import { RotaError } from "../../errors.ts";

/** How long a vendor write is waited for at most, once sent: far past any reply, short of holding a zone for good. */
export const WRITE_SETTLE_MS = 300_000;

/**
 * A DCV backend whose writes can outlive the publish that sent them: an optional capability,
 * checked with `hasLateWrites`. The pipeline asks after a failed `remove`, and removes the
 * challenge again once what is in flight has ended.
 */
export interface LateWrites {
  /** Null when no write of this backend is in flight in this process; else settles once every write in flight now has ended. Never rejects. */
  writesInFlight(): Promise<void> | null;
}

export function hasLateWrites(backend: object): backend is LateWrites {
  return typeof (backend as Partial<LateWrites>).writesInFlight === "function";
}

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

  /** Whether a write of `key` is still running. */
  running(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Null when no write is running; else settles once every write begun so far has ended. Never rejects. */
  all(): Promise<void> | null {
    return this.byKey.size === 0 ? null : Promise.all(this.byKey.values()).then(() => {});
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

/**
 * Rejects with `late()` once `ms` have passed, unless `write` has settled first (then it never
 * settles). The write is not stopped: a step gives up on a reply this way while the request
 * runs on, its lock held.
 */
export function noReplyWithin(write: Promise<unknown>, ms: number, late: () => RotaError): Promise<never> {
  const gaveUp = Promise.withResolvers<never>();
  gaveUp.promise.catch(() => {});
  const timer = setTimeout(() => gaveUp.reject(late()), ms);
  void write.then(
    () => clearTimeout(timer),
    () => clearTimeout(timer),
  );
  return gaveUp.promise;
}
