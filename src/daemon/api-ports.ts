/** @module The daemon's scheduler and runner as the API's narrow ports. */
import type { Actions, CertSource, DaemonInfo } from "../api/ports.ts";
import type { InstallSyncTask } from "../cluster/install-sync.ts";
import type { BackendSection, RotaConfig } from "../config/schema.ts";
import type { WatchedCert, Watchlist } from "../pipeline/runtime.ts";
import type { Runner } from "../scheduler/runner.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { ReloadResult } from "./daemon.ts";
import type { HttpListener } from "./http-listener.ts";

/** `sync`: cluster mode's InstallSyncTask, whose failures are the certs' on this node; null on a single node. */
export function certSource(scheduler: Scheduler, runner: Runner, sync: Pick<InstallSyncTask, "installFailure"> | null = null): CertSource {
  // The watched certs by id, per watchlist (a reload hands the scheduler a new one): a cert's routes find it without a scan of thousands.
  const byId = new WeakMap<Watchlist, Map<string, WatchedCert>>();
  const index = (w: Watchlist) => {
    let ids = byId.get(w);
    if (!ids) byId.set(w, (ids = new Map(w.certs.map((c) => [c.config.id, c]))));
    return ids;
  };
  return {
    certs: () => scheduler.watched().certs,
    find: (id) => index(scheduler.watched()).get(id),
    look: (id) => scheduler.look(id),
    backendType: (surface, name) => sections(scheduler, surface).find((s) => s.name === name)?.type,
    busy: (id) => runner.busy(id),
    installFailure: (id) => sync?.installFailure(id) ?? null,
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

/** `config`: the running config, read at each call (a reload replaces it). */
export function daemonInfo(config: () => RotaConfig, runner: Runner, http: () => Pick<HttpListener, "origin">): DaemonInfo {
  return {
    settings: () => {
      const { daemon, audit } = config();
      return { socket: daemon.socket, stateDir: daemon.stateDir, audit: { backend: audit.backend, path: audit.backend === "sqlite" ? audit.path : audit.url, retentionDays: audit.retentionDays }, maxConcurrentRenewals: daemon.maxConcurrentRenewals };
    },
    renewals: () => {
      const running = runner.running();
      return { running, queued: Math.max(0, runner.activeRenewalIds().size - running) };
    },
    listener: () => {
      const origin = http().origin();
      const { http: h } = config();
      return origin ? { origin, tls: h.listener?.tls ?? null, publicUrl: h.publicUrl } : null;
    },
  };
}

function sections(scheduler: Scheduler, surface: "ca" | "dcv" | "install"): BackendSection[] {
  const config = scheduler.watched().config;
  return surface === "ca" ? config.cas : surface === "dcv" ? config.dcvs : config.installs;
}
