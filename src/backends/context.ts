/** @module What every backend factory is handed: where state lives, the clock, a logger. */
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";

export interface BackendContext {
  /** The daemon's state folder; backends keep their own files in a sub-folder named after themselves. */
  stateDir: string;
  clock: Clock;
  log: Logger;
}
