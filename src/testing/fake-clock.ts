/**
 * @module Clocks for tests. `FakeClock` moves only when the test says so and fires the
 * timers that fall due, in time order; `clockReading` reads a time the test sets by hand
 * while its timers stay real (for code that arms timers the test never waits for).
 */
import { systemClock, type Cancel, type Clock } from "../clock.ts";

interface Timer {
  id: number;
  at: number;
  every: number | null;
  fn: () => void;
}

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  constructor(start: Date | string = "2030-01-01T00:00:00Z") {
    this.t = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  setTimeout(fn: () => void, ms: number): Cancel {
    return this.arm(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): Cancel {
    return this.arm(fn, ms, Math.max(1, ms));
  }

  /**
   * Sets the time `ms` later (earlier when negative) without firing timers, as a system
   * clock that is stepped: armed timers keep their delays, so they fire when `advance`
   * reaches them, at a wall time `ms` off the one they were armed for.
   */
  jump(ms: number): void {
    this.t += ms;
    for (const timer of this.timers.values()) timer.at += ms;
  }

  /** How many timers are armed. */
  pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`, firing each timer that falls due at its own instant, and
   * lets the promises those callbacks start settle before the next one fires.
   */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers.values()].filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.t = next.at;
      if (next.every === null) this.timers.delete(next.id);
      else next.at += next.every;
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }

  private arm(fn: () => void, ms: number, every: number | null): Cancel {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), every, fn });
    return () => this.timers.delete(id);
  }
}

/** Lets pending promise callbacks (and one macrotask turn) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A clock at whatever time `now()` returns, with real timers. */
export function clockReading(now: () => Date): Clock {
  return { ...systemClock, now };
}
