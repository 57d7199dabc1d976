/** @module The injected clock: everything that decides by time asks one of these, never Date directly. */

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
