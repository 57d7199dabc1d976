/**
 * @module Long-lived streams opened on TCP (the `/api/events` WebSocket) keep the credential
 * that opened them: the logout of that session, its expiry or a new token closes them, as it
 * refuses the next HTTP request ("a new token invalidates sessions at once", issue 6). An
 * HTTP request is checked once; a stream would otherwise outlive what let it in for days.
 */
import type { Cancel, Clock } from "../../clock.ts";

/** Private-use close code (RFC 6455 §7.4.2: 4000–4999) echoing HTTP's 401: sign in again, do not just reconnect. */
export const CLOSE_CREDENTIAL_ENDED = 4401;

/** Registers an open stream's `close`; returns the release its own close calls. */
export type StreamGuard = (close: (code: number, reason: string) => void) => () => void;

/** What the TCP app's authentication hands a route that opens a stream; absent on the unix socket, whose streams end with the daemon. */
export type GuardedEnv = { Variables: { streamGuard?: StreamGuard } };

interface Held {
  valid: () => boolean;
  reason: string;
  close: (code: number, reason: string) => void;
  cancelTimer: Cancel;
}

// setTimeout takes at most 2^31-1 ms (~24.8 days); a session may last a year.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class StreamGuards {
  private readonly held = new Set<Held>();

  constructor(private readonly clock: Clock) {}

  /**
   * A guard for streams whose credential holds while `valid()` is true and at most until
   * `expires` (null: no end of its own, as a Bearer token's). `reason` is the close frame's
   * text (at most 123 bytes). A stream registered after its credential ended closes at once.
   */
  guard(valid: () => boolean, expires: Date | null, reason: string): StreamGuard {
    return (close) => {
      const h: Held = { valid, reason, close, cancelTimer: () => {} };
      if (!valid()) {
        close(CLOSE_CREDENTIAL_ENDED, reason);
        return () => {};
      }
      this.held.add(h);
      if (expires) this.armExpiry(h, expires);
      return () => this.release(h);
    };
  }

  /** Closes every stream whose credential no longer holds: called after a logout and after the token changed. */
  recheck(): void {
    for (const h of [...this.held]) if (!h.valid()) this.end(h);
  }

  /** Streams held now: what tests count. */
  get size(): number {
    return this.held.size;
  }

  private armExpiry(h: Held, expires: Date): void {
    const ms = expires.getTime() - this.clock.now().getTime();
    if (ms <= 0) return this.end(h);
    h.cancelTimer = this.clock.setTimeout(() => (ms > MAX_TIMER_MS ? this.armExpiry(h, expires) : this.end(h)), Math.min(ms, MAX_TIMER_MS));
  }

  private end(h: Held): void {
    this.release(h);
    h.close(CLOSE_CREDENTIAL_ENDED, h.reason);
  }

  private release(h: Held): void {
    h.cancelTimer();
    this.held.delete(h);
  }
}
