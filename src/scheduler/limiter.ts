/** @module A counting semaphore: at most `limit` holders at once, waiters served in arrival order. */

/**
 * One in the line, handed a release once its slot is free. An object with a method, not a
 * callback: a runner's queued renewal is its own waiter, with no closure made for the line.
 */
export interface Waiter {
  grant(release: () => void): void;
}

export class Limiter {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private limit: number) {}

  /** Holders now; above the limit for a while after it was lowered. */
  get held(): number {
    return this.active;
  }

  /** A higher limit lets waiters in at once; a lower one takes effect as holders release. */
  setLimit(limit: number): void {
    this.limit = limit;
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active++;
      this.waiting.shift()!.grant(this.releaser());
    }
  }

  /**
   * Calls `waiter.grant` with a release once a slot is free, at once when one is. No promise
   * and no abort listener: what a runner with thousands queued keeps per waiter is the waiter.
   */
  enter(waiter: Waiter): void {
    if (this.active < this.limit) {
      this.active++;
      waiter.grant(this.releaser());
    } else {
      this.waiting.push(waiter);
    }
  }

  /** Takes a waiter of `enter` out of the line; false when it has its slot already. */
  leave(waiter: Waiter): boolean {
    const i = this.waiting.indexOf(waiter);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  async acquire(signal: AbortSignal): Promise<() => void> {
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          signal.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        if (this.leave(waiter)) reject(signal.reason);
      };
      this.waiting.push(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Frees the slot once, however often it is called: to the next waiter first. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.active <= this.limit ? this.waiting.shift() : undefined;
      if (next) next.grant(this.releaser());
      else this.active--;
    };
  }
}
