/**
 * @module Audit retention: prunes the store once at start and then daily, keeping
 * `[audit] retention_days` of history (the store keeps each cert's newest rows regardless),
 * and forgets what was installed for certs no longer in the config. On a cluster only the
 * leader prunes the shared database: the followers would repeat its work.
 */
import type { Clock } from "../clock.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Leadership } from "../scheduler/leadership.ts";
import type { AuditStore, PruneResult } from "./types.ts";

const DAY_MS = 86_400_000;

export interface RetentionDeps {
  store: AuditStore;
  clock: Clock;
  retentionDays: number;
  /** The cert ids configured at the time of the prune (a reload changes them). */
  certIds: () => readonly string[];
  log: Logger;
  /** Prunes only while this says so (a cluster's leader); every time when absent. */
  leadership?: Pick<Leadership, "isLeader">;
}

export interface Retention {
  /** No more prunes; resolves when the one in progress (if any) is done with the store. */
  stop(): Promise<void>;
}

/** One prune of everything older than `retentionDays` before the clock's now; logs what went. */
export async function pruneOnce(deps: RetentionDeps): Promise<PruneResult> {
  const before = new Date(deps.clock.now().getTime() - deps.retentionDays * DAY_MS);
  const r = await deps.store.prune(before, deps.certIds());
  const installs = r.installs > 0 ? `, and ${r.installs} install record(s) of certs no longer configured` : "";
  const alerts = r.alerts > 0 ? `, ${r.alerts} alert delivery record(s)` : "";
  const what = `${r.renewals} renewal(s) with ${r.steps} step(s)${alerts} and ${r.issued} issued certificate(s) older than ${deps.retentionDays} ${deps.retentionDays === 1 ? "day" : "days"}${installs}`;
  if (r.renewals + r.issued + r.installs + r.alerts > 0) deps.log.info(`audit: pruned ${what}`);
  else deps.log.debug(`audit: pruned ${what}`);
  return r;
}

/**
 * Prunes now, or once `firstAfter` has settled, then every day. A failed prune is logged and
 * tried again the next day. The daemon's first prune waits for its first sweep: on SQLite a
 * prune is a transaction in this thread, some 30 ms at 10,000 certs, which held the first
 * `/healthz` answer back (issue 11).
 */
export function startRetention(deps: RetentionDeps, firstAfter?: Promise<unknown>): Retention {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const run = () => {
    if (stopped || (deps.leadership && !deps.leadership.isLeader())) return;
    running = pruneOnce(deps).catch((err) => deps.log.error(`audit: prune failed: ${describeError(err)}`));
  };
  if (firstAfter) void firstAfter.then(run, run);
  else run();
  const cancel = deps.clock.setInterval(run, DAY_MS);
  return {
    async stop() {
      stopped = true;
      cancel();
      await running;
    },
  };
}
