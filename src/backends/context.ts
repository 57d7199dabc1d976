/** @module What every backend factory is handed: where state lives, the clock, a logger, the event bus, what commands must not see. */
import type { Clock } from "../clock.ts";
import type { RotaEvent } from "../events.ts";
import type { Logger } from "../log.ts";

export interface BackendContext {
  /** The daemon's state folder; backends keep their own files in a sub-folder named after themselves. */
  stateDir: string;
  clock: Clock;
  log: Logger;
  /**
   * Puts an event on the bus of the process the backend runs in: the daemon's, or the
   * renewal process's, which forwards it to the daemon's (audit, live stream, alerts).
   */
  emit(event: RotaEvent): void;
  /**
   * The variables the commands a backend runs (`test_command`, `reload_command`,
   * `post_install_command`) must not inherit: every one a `*_env` key of the whole config names
   * (`RunOptions.withheld`). Asked at each run, so a daemon's answer follows its reloads.
   */
  withheldEnv(): readonly string[];
  /**
   * Cluster mode: the backend creates no state that every node must share, since nodes share
   * only the database (a local CA's root is copied between nodes by hand). Unset: one node.
   */
  cluster?: boolean;
}
