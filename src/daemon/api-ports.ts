/** @module The daemon's scheduler and runner as the API's narrow ports. */
import type { Actions, CertSource } from "../api/ports.ts";
import type { BackendSection } from "../config/schema.ts";
import type { Runner } from "../scheduler/runner.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { ReloadResult } from "./daemon.ts";

export function certSource(scheduler: Scheduler, runner: Runner): CertSource {
  return {
    certs: () => scheduler.watched().certs,
    find: (id) => scheduler.watched().certs.find((c) => c.config.id === id),
    look: (id) => scheduler.look(id),
    backendType: (surface, name) => sections(scheduler, surface).find((s) => s.name === name)?.type,
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

function sections(scheduler: Scheduler, surface: "ca" | "dcv" | "install"): BackendSection[] {
  const config = scheduler.watched().config;
  return surface === "ca" ? config.cas : surface === "dcv" ? config.dcvs : config.installs;
}
