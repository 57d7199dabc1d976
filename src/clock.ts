/**
 * @module The injected clock: everything that decides by time asks one of these, never
 * Date directly, and arms its timers through it, so tests can step time by hand.
 */

/** Cancels a timer; calling it twice, or after the timer fired, is harmless. */
export type Cancel = () => void;

export interface Clock {
  now(): Date;
  /** Runs `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): Cancel;
  /** Runs `fn` every `ms` from now on. */
  setInterval(fn: () => void, ms: number): Cancel;
}

export const systemClock: Clock = {
  now: () => new Date(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  },
};

/**
 * Milliseconds from an arbitrary origin that never jump when the wall clock is set: what a
 * lease measures its own deadline with (`performance.now()`). Injected like the clock.
 */
export type Monotonic = () => number;

export const systemMonotonic: Monotonic = () => performance.now();
