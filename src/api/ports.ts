/**
 * @module What the API's routes may read and do, as narrow interfaces: the routes never
 * see the scheduler or the runner themselves, so the socket app, the TCP app and tests
 * build them from whatever answers these.
 */
import type { ClusterPort, NodeInstallFailure } from "../cluster/types.ts";
import type { DeliveryResult } from "../alerts/dispatcher.ts";
import type { Clock } from "../clock.ts";
import type { HttpTls } from "../config/schema.ts";
import type { ReloadResult } from "../daemon/daemon.ts";
import type { EventBus } from "../events.ts";
import type { Logger } from "../log.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { CertLook, RenewRequestResult } from "../scheduler/scheduler.ts";
import type { AuditStore } from "../store/types.ts";

/** The certs watched now and what the daemon last saw of them. A reload changes every answer. */
export interface CertSource {
  certs(): readonly WatchedCert[];
  find(id: string): WatchedCert | undefined;
  /** The last look at the cert's targets; undefined until the first one ends. */
  look(certId: string): CertLook | undefined;
  /** The `type` of the configured `[[ca]]`, `[[dcv]]` or `[[install]]` section called `name`. */
  backendType(surface: "ca" | "dcv" | "install", name: string): string | undefined;
  /** True while a renewal of the cert runs. */
  busy(certId: string): boolean;
  /** Cluster mode: this node's failed or refused install of the cert's stored certificate (InstallSyncTask); always null on a single node. */
  installFailure(certId: string): NodeInstallFailure | null;
  nextTickAt(): Date | null;
  checkIntervalSeconds(): number;
  /** Resolves once every watched cert has had its first look (it may never, if a target hangs: callers bound the wait). */
  firstLooks(): Promise<void>;
}

/** What the routes may change. */
export interface Actions {
  /** Starts a renewal now when the cert needs one (or `force`); the result says why not otherwise. */
  renew(cert: WatchedCert, opts: { force: boolean; newKey: boolean }): Promise<RenewRequestResult>;
  /** Re-reads the config file; an invalid one is reported and the running config kept. */
  reload(): Promise<ReloadResult>;
  /** The running renewal with this id: `done` settles once its audit row is final. Undefined when none runs. */
  running(renewalId: string): { done: Promise<unknown> } | undefined;
}

/** The configured alert sinks. */
export interface AlertActions {
  sinkNames(): string[];
  /** Sends `alert.test` to the sink named (or every sink), past the repeat limit; the caller has checked the names. */
  test(opts: { sink: string | null; certId: string | null }): Promise<DeliveryResult[]>;
}

/** The daemon's own settings and state, for the status page. A reload changes every answer. */
export interface DaemonInfo {
  settings(): DaemonSettings;
  /** Renewals holding one of the `maxConcurrentRenewals` slots now, and those waiting for one. */
  renewals(): { running: number; queued: number };
  /** The TCP listener bound now; null without one (or while its TLS cert waits for its first issue). */
  listener(): ListenerInfo | null;
}

export interface DaemonSettings {
  socket: string;
  stateDir: string;
  /** `path`: the SQLite file, or the SurrealDB server's URL. */
  audit: { backend: string; path: string; retentionDays: number };
  maxConcurrentRenewals: number;
}

export interface ListenerInfo {
  /** e.g. `https://127.0.0.1:8844`. */
  origin: string;
  /** Null: plain HTTP. */
  tls: HttpTls | null;
  publicUrl: string | undefined;
}

export interface ApiDeps {
  version: string;
  configFile: string;
  startedAt: Date;
  certs: CertSource;
  actions: Actions;
  alerts: AlertActions;
  daemon: DaemonInfo;
  store: AuditStore;
  bus: EventBus;
  clock: Clock;
  log: Logger;
  /** Cluster mode's view and step-down; absent when `[cluster]` is off. */
  cluster?: ClusterPort;
}
