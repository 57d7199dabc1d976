/** @module The daemon's scheduler and runner as the API's narrow ports. */
import type { Actions, CertSource } from "../api/ports.ts";
import type { Runner } from "../scheduler/runner.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { ReloadResult } from "./daemon.ts";

export function certSource(scheduler: Scheduler, runner: Runner): CertSource {
  return {
    certs: () => scheduler.watched().certs,
    find: (id) => scheduler.watched().certs.find((c) => c.config.id === id),
    look: (id) => scheduler.look(id),
    busy: (id) => runner.busy(id),
    nextTickAt: () => scheduler.nextTickAt(),
    checkIntervalSeconds: () => scheduler.watched().config.daemon.checkIntervalSeconds,
    firstLooks: () => scheduler.firstLooks(),
  };
}

export function actions(scheduler: Scheduler, runner: Runner, reload: () => Promise<ReloadResult>): Actions {
  return {
    renew: (cert, opts) => scheduler.request(cert, opts),
    reload,
    running: (id) => runner.byRenewalId(id),
  };
}
