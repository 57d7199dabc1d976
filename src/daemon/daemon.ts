/**
 * @module The daemon: wires config, store, backends, scheduler and API together, applies
 * reloads, keeps its socket in place, and takes everything down in order. Signal
 * handling lives in the CLI entry, which calls `reload()` and `stop()`.
 */
import { linkSync, lstatSync, renameSync, rmSync } from "node:fs";
import { AlertService, type Sinks } from "../alerts/service.ts";
import { createApi } from "../api/app.ts";
import { socketServeOptions } from "../api/serve-options.ts";
import type { ApiDeps } from "../api/ports.ts";
import { websocket } from "../api/websocket.ts";
import { assetRoutes, dashboardRoutes } from "../views/routes.tsx";
import { adoptSharedLocalCa } from "../backends/ca/local/layout.ts";
import { killGroup } from "../backends/install/command.ts";
import { systemMonotonic, type Clock } from "../clock.ts";
import type { LeaderLostReason, NodeCertsSource } from "../cluster/types.ts";
import { ConfigError, loadConfig, type CachedLoad } from "../config/load.ts";
import { errnoText } from "../config/paths.ts";
import { preflight, preflightDaemon, preflightKeys } from "../config/preflight.ts";
import type { RotaConfig } from "../config/schema.ts";
import { secretEnvNames } from "../config/secret.ts";
import { RotaError, describeError } from "../errors.ts";
import { EventBus, type RotaEvent, type StoreEvent } from "../events.ts";
import { lstatOrNull } from "../fsutil.ts";
import type { Lock } from "../lockfile.ts";
import { scoped, type Logger } from "../log.ts";
import { InstallSyncTask } from "../cluster/install-sync.ts";
import { Advisors } from "../pipeline/advisors.ts";
import { childExecutor, spawnWorker, type ExecutorDeps } from "../pipeline/child.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import { JournaledDcvs } from "./journal-dcvs.ts";
import type { Watchlist } from "../pipeline/runtime.ts";
import { WorkerPool, type PoolSettings } from "../pipeline/worker-pool.ts";
import { Runner, type RunnerSettings } from "../scheduler/runner.ts";
import { orderInputs } from "../scheduler/order-inputs.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { singleNode } from "../scheduler/leadership.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { openAuditStore } from "../store/open.ts";
import type { AuditStore } from "../store/types.ts";
import { actions, certSource, daemonInfo } from "./api-ports.ts";
import type { DaemonCluster } from "./cluster.ts";
import { lockState, type Front } from "./front.ts";
import { buildWatchlist, installFolders } from "./backends.ts";
import { HttpListener, HttpSetupError } from "./http-listener.ts";
import { planReload, reloadSummary, withListenerChange, type ReloadPlan } from "./reload.ts";
import { listenUnix, SocketPathError } from "./socket.ts";
import { startRetention } from "../store/retention.ts";
import { collectAfterRenewals } from "./collect.ts";
import { claimCertIds } from "./cert-claims.ts";

export interface DaemonOptions {
  config: RotaConfig;
  log: Logger;
  clock: Clock;
  version: string;
  /**
   * Keeps the start's parse of the config file for the next start (src/config/parse-cache.ts):
   * called once the first sweep is over, out of the way of the first answers.
   */
  keepParse?: () => void;
  /** Reads the config file for a reload (`loadConfig` when not given); its `remember` is called once the reload has applied. */
  load?: (file: string) => CachedLoad;
  /**
   * The lock and listeners the start took before it read the certs (front.ts): the daemon
   * serves through them and opens them to its app once started. On a throw they are left to
   * the caller's `fail()`.
   */
  front?: Front;
}

/** `loadConfig` as a reload's `load`: nothing kept. */
function loadPlain(file: string): CachedLoad {
  return { config: loadConfig(file), warnings: [], remember: () => {} };
}

export type ReloadResult = ({ ok: true; summary: string } & Omit<ReloadPlan, "config">) | { ok: false; file: string; problems: string[] };

export interface RunningDaemon {
  /** Re-reads the config file and applies it, or keeps the running config and says why. Never throws. */
  reload(): Promise<ReloadResult>;
  /** Cancels renewals (their workers remove their challenges), then closes everything in order. */
  stop(): Promise<void>;
  /**
   * For a stop out of time, just before the process exits: kills (SIGKILL) every renewal
   * worker still alive, removes the socket and releases the state lock, so nothing outlives
   * the daemon and a new one can start at once. Their challenges stay journaled, for the next start.
   */
  abandon(): void;
}

/** Cluster mode's coordinator and API port, loaded only when `[cluster] enabled`. */
async function claimCluster(
  config: RotaConfig,
  store: AuditStore,
  bus: EventBus,
  clock: Clock,
  log: Logger,
  version: string,
  certs: NodeCertsSource,
  hooks: LeaseHooks,
): Promise<DaemonCluster> {
  const { claimCluster: claim } = await import("./cluster.ts");
  return claim({
    config: config.cluster,
    store,
    bus,
    clock,
    monotonic: systemMonotonic,
    log: scoped(log, { component: "cluster" }),
    version,
    certs,
    onAcquired: () => hooks.acquired(),
    onLost: (reason) => hooks.lost(reason),
  });
}

/**
 * What a change of leadership sets off: a new leader sweeps at once; one that stops leading
 * aborts its orders (their challenges removed, rows interrupted). Filled in once the
 * scheduler and runner exist: the coordinator is claimed before them.
 */
interface LeaseHooks {
  acquired(): void;
  lost(reason: LeaderLostReason): void;
}

/** How long startup may spend removing challenges a crashed run left behind. */
const RECOVERY_BUDGET_MS = 30_000;
/** The socket is checked at every tick, and at least this often. */
const SOCKET_CHECK_MAX_MS = 60_000;
/** A renewal worker using more than this after a renewal is replaced: a leak must not grow for days. */
const WORKER_MAX_RSS_BYTES = 256 * 2 ** 20;

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const { store, lock, relay } = await openState(opts);
  try {
    return await startServices(opts, store, lock, relay);
  } catch (err) {
    await store.close();
    lock.release();
    throw err;
  }
}

/** Where the store's connection events go: the bus, once it exists (the store opens first). */
interface StoreRelay {
  emit(e: StoreEvent): void;
}

/** Errors opening a database that come from the path the config gives, not from the file's content. */
const PATH_PROBLEMS = new Set(["EACCES", "EPERM", "EROFS", "ENOENT", "ENOTDIR", "EISDIR", "SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM"]);

/**
 * The state folder, its lock and the audit store. A path that cannot be used is a config
 * problem (exit 2, naming the key), not a crash: the pre-start checks find what they can
 * before anything is created; what fails anyway is mapped the same way. Problems of one
 * cert (a key, an install folder) are logged, not fatal, so the other certs keep renewing.
 * A corrupt database is moved aside. A SurrealDB server that does not answer in time
 * fails the start (exit 1); one that refuses the credentials or runs a schema or version
 * this rota cannot use is a config problem naming the key.
 */
async function openState({ config, log, clock, front }: DaemonOptions): Promise<{ store: AuditStore; lock: Lock; relay: StoreRelay }> {
  // The certs' keys are checked once the API answers (checkKeysLater): their problems are not fatal.
  const report = preflightDaemon(config);
  if (report.fatal.length > 0) throw new ConfigError(config.file, report.fatal);
  for (const line of [...report.certs, ...report.warnings]) log.warn(line);
  const problem = (key: string, what: string, err: unknown) => new ConfigError(config.file, [`${key}: ${what}: ${errnoText(err)}`]);
  const lock = front?.lock ?? lockState(config.file, config.daemon.stateDir);
  const relay: StoreRelay = { emit: () => {} };
  const audit = config.audit;
  try {
    // In cluster mode this node's renewals carry its node id, and `interruptRunning` closes only those.
    const node = config.cluster.enabled ? config.cluster.nodeId : undefined;
    return { store: await openAuditStore(config, { owner: node, node, buffered: true, log: scoped(log, { component: "audit" }), clock, onState: (e) => relay.emit(e) }), lock, relay };
  } catch (err) {
    lock.release();
    if (err instanceof RotaError && err.code === "store_config") throw new ConfigError(config.file, [err.message]);
    if (audit.backend !== "sqlite") throw err;
    if (err instanceof RotaError && err.code === "backup_failed") {
      // The backup before a migration goes beside the database: a folder it cannot write is the config's problem.
      const cause = String((err.cause as { code?: unknown } | undefined)?.code ?? "");
      if (PATH_PROBLEMS.has(cause)) throw problem("audit.path", `cannot back up ${audit.path} before migrating it`, err.cause);
      throw err;
    }
    const code = String((err as { code?: unknown }).code ?? "");
    // SQLite's extended codes (SQLITE_CANTOPEN_ISDIR) narrow a primary one.
    if (PATH_PROBLEMS.has(code) || PATH_PROBLEMS.has(code.split("_").slice(0, 2).join("_"))) throw problem("audit.path", `cannot open ${audit.path}`, err);
    throw new RotaError("store_unusable", `audit store: cannot open ${audit.path}: ${describeError(err)}`, { cause: err });
  }
}

function runnerSettings(config: RotaConfig, executor: Omit<ExecutorDeps, "store">, store: AuditStore, cluster: DaemonCluster | null): RunnerSettings {
  const d = config.daemon;
  return {
    cluster: cluster && { nodeId: config.cluster.nodeId, leadership: cluster.coordinator },
    execute: childExecutor(config, { ...executor, store }),
    orderInputs: (certId) => orderInputs(config, certId),
    policy: { baseSeconds: d.failureCooldownSeconds, maxSeconds: d.failureCooldownMaxSeconds },
    maxAuthzFailures: d.maxAuthzFailures,
    maxConcurrent: d.maxConcurrentRenewals,
    timeoutSeconds: d.renewalTimeoutSeconds,
  };
}

function poolSettings({ daemon: d }: RotaConfig): PoolSettings {
  return { idleMs: d.workerIdleSeconds * 1000, maxRenewals: d.workerMaxRenewals, maxRssBytes: WORKER_MAX_RSS_BYTES, maxIdle: d.maxConcurrentRenewals };
}

/** The API socket; a path that cannot be used is a config problem naming `daemon.socket`. */
async function listenSocket<T>(config: RotaConfig, serve: (unix: string) => T): Promise<T> {
  try {
    return await listenUnix(config.daemon.socket, serve);
  } catch (err) {
    if (err instanceof SocketPathError) throw new ConfigError(config.file, [`daemon.socket: ${err.reason}`]);
    throw err;
  }
}

/** Keys checked between two turns of the event loop at start: about 10 ms of work. */
const KEY_CHECK_SLICE = 100;

/**
 * The start's per-cert key checks (src/config/preflight.ts), logged as a start logs them,
 * after the listeners are up and a slice at a time: at 10,000 certs they held the first
 * `/healthz` back by some 300 ms (issue 11), and what they find is never fatal.
 */
async function checkKeysLater(config: RotaConfig, log: Logger, stopped: () => boolean): Promise<void> {
  for (let from = 0; from < config.certs.length && !stopped(); from += KEY_CHECK_SLICE) {
    const report = preflightKeys({ cluster: config.cluster, certs: config.certs.slice(from, from + KEY_CHECK_SLICE) }, (i) => `cert[${from + i}]`);
    for (const line of [...report.certs, ...report.warnings]) log.warn(line);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** How long the start-up check of the certs' CA options may take, all CAs together. */
const ADVICE_AT_START_MS = 30_000;

/** Writes the config's parse for the next start; a write that fails costs that start its parse, nothing more. */
function keepParseWith(log: Logger): (remember: () => void) => void {
  return (remember) => {
    try {
      remember();
    } catch (err) {
      log.warn(`cannot keep the config's parse for the next start: ${describeError(err)}`);
    }
  };
}

async function startServices({ config, log, clock, version, keepParse, load = loadPlain, front }: DaemonOptions, store: AuditStore, lock: Lock, relay: StoreRelay): Promise<RunningDaemon> {
  const { daemon } = config;
  const keep = keepParseWith(log);
  const bus = new EventBus((err, event) => log.error(`event ${event.type}: ${describeError(err)}`));
  relay.emit = (e) => bus.emit(e);
  // What this node reports of its certs at each heartbeat: InstallSyncTask's per-cert state,
  // once it exists (it needs the scheduler, which needs the coordinator).
  let sync: InstallSyncTask | null = null;
  const nodeCerts: NodeCertsSource = { certs: () => sync?.certs() ?? [] };
  const hooks: LeaseHooks = { acquired: () => {}, lost: () => {} };
  // Claimed before this node's running rows are closed: another live daemon under the same
  // node id owns them, and this start is refused.
  const cluster = config.cluster.enabled ? await claimCluster(config, store, bus, clock, log, version, nodeCerts, hooks) : null;
  if (!cluster && config.audit.backend === "surrealdb") await (await import("./cluster.ts")).refuseBesideCluster(store, log);
  // Before the running rows are closed: an upgraded daemon closes its older self's rows of the certs it claims.
  const taken = await claimCertIds(store, config);
  if (taken.length > 0) throw new ConfigError(config.file, taken);
  const interrupted = await store.interruptRunning(clock.now()).catch(async (err: unknown) => {
    await cluster?.stop();
    throw err;
  });
  if (interrupted > 0) log.warn(`${interrupted} renewal(s) were running when the daemon last stopped; marked interrupted`);

  subscribeAudit(bus, store);
  adoptSharedLocalCa(daemon.stateDir, config.cas, log);
  // The running config's, asked when a worker starts or a command runs (the daemon's own backends run none today).
  const withheldEnv = () => secretEnvNames(watch.config);
  const ctx = { stateDir: daemon.stateDir, clock, log, emit: (e: RotaEvent) => bus.emit(e), withheldEnv };
  let watch = await buildWatchlist(config, ctx);
  const advisors = new Advisors({ ...ctx, log: scoped(log, { component: "ari" }) });
  // Off the start path: a slow CA must not hold the daemon up (each request has its own 8-s timeout).
  void advisors.warnAtStart(config.certs, config.cas, AbortSignal.timeout(ADVICE_AT_START_MS));
  const journal = new ChallengeJournal(daemon.stateDir);
  const journalDcvs = new JournaledDcvs(ctx);
  const findDcvs = (w: Watchlist) => journalDcvs.finder(w);
  const recovered = await journal.recover(findDcvs(watch), log, AbortSignal.timeout(RECOVERY_BUDGET_MS), {
    now: clock.now(),
    retryBaseMs: config.daemon.checkIntervalSeconds * 1000,
  });
  if (recovered > 0) log.warn(`removed ${recovered} challenge(s) left by an earlier run`);

  /** Renewal workers, across reloads. */
  // Once the last worker has left, the scheduler's objects are compacted and a full collection hands
  // back what a burst of renewals left in the heap (their requests, lines, events): the idle daemon
  // returns to its size (issue 11).
  const pool = new WorkerPool(
    { spawn: () => spawnWorker({ stateDir: daemon.stateDir, withheldEnv: [...withheldEnv()] }), clock, log: scoped(log, { component: "pipeline" }), killGroup, onEmpty: () => compact() },
    poolSettings(config),
  );
  // And every few hundred renewals while they run: a burst of thousands otherwise peaks at its last one.
  collectAfterRenewals(bus, () => compact());
  // The scheduler's objects of the certs looked at since the last time, copied away from the garbage they
  // were made amid, then a full collection (Scheduler.compact).
  const compact = () =>
    void scheduler
      .compact()
      .then(() => Bun.gc(true))
      .catch((err: unknown) => log.error(`compact: ${describeError(err)}`));
  const executorDeps = { bus, log, pool, clock, advisors };
  const runner = new Runner({ store, bus, clock, log: scoped(log, { component: "runner" }) }, runnerSettings(config, executorDeps, store, cluster));
  const scheduler = new Scheduler({ runner, store, bus, clock, leadership: cluster?.coordinator ?? singleNode, journal, findDcvs, advice: advisors, log: scoped(log, { component: "scheduler" }) }, watch);
  hooks.acquired = () => scheduler.kick();
  // Looks taken while the audit store was away failed (unreadable, checking): every cert is
  // looked at again once it is back, not at the next interval, up to an hour later.
  bus.subscribe((e) => {
    if (e.type !== "store.reconnected") return;
    log.info("audit store connected again: looking at every cert now");
    scheduler.kick();
  });
  hooks.lost = (reason) => void runner.abortOrders(reason);
  const settings = config.cluster;
  // Every node, leader included, installs what the leader stored; it looks at each lease tick (⅓ TTL) for a new issuance.
  sync = settings.enabled
    ? new InstallSyncTask({
        scheduler,
        runner,
        store,
        bus,
        clock,
        log: scoped(log, { component: "cluster" }),
        nodeId: settings.nodeId,
        syncIntervalSeconds: settings.syncIntervalSeconds,
        checkSeconds: settings.lockTtlSeconds / 3,
      })
    : null;
  const alerts = await AlertService.start({ bus, store, certs: certSource(scheduler, runner), ctx, log: scoped(log, { component: "alerts" }), leadership: cluster?.coordinator }, config);

  let cancelSocketCheck = () => {};
  const armSocketCheck = () => {
    cancelSocketCheck();
    cancelSocketCheck = clock.setInterval(() => void checkSocket(), Math.min(watch.config.daemon.checkIntervalSeconds * 1000, SOCKET_CHECK_MAX_MS));
  };

  /** Set by stop(): a reload queued or in progress then applies nothing. */
  let stopping = false;
  const refuse = (problems: string[]): ReloadResult => ({ ok: false, file: config.file, problems });
  let reloading: Promise<ReloadResult> = Promise.resolve(refuse([]));
  const reload = (): Promise<ReloadResult> => {
    // One at a time: two quick SIGHUPs apply the file twice, in order.
    reloading = reloading.then(async () => {
      if (stopping) return refuse(["the daemon is stopping"]);
      let loaded: CachedLoad;
      try {
        loaded = load(config.file);
      } catch (err) {
        const problems = err instanceof ConfigError ? err.problems : [describeError(err)];
        // One line per problem: a text log line never holds a newline (it would be written as "\n").
        log.error(`reload: config ${config.file} is not valid; still running on the previous one`);
        for (const p of problems) log.error(`reload: ${p}`);
        return refuse(problems);
      }
      const next = loaded.config;
      const plan = planReload(watch.config, next);
      // What a start would refuse is refused here too, but only what the new config brings:
      // a problem the running config already has (logged at start) must not block every reload.
      const running = preflight(watch.config);
      const known = new Set([...running.fatal, ...running.certs]);
      const report = preflight(plan.config);
      const problems = [...report.fatal, ...report.certs].filter((p) => !known.has(p));
      // Warnings (a key of another type, to be replaced at its next renewal) are said as at a start, if new.
      for (const w of report.warnings.filter((w) => !running.warnings.includes(w))) log.warn(`reload: ${w}`);
      if (problems.length > 0) {
        log.error(`reload: config ${config.file} fails the start checks; still running on the previous one`);
        for (const p of problems) log.error(`reload: ${p}`);
        return refuse(problems);
      }
      // Only a change of ids claims anything: a reload during an outage of the store goes on otherwise.
      const ids = (c: RotaConfig) => c.certs.map((x) => x.id);
      const idsChanged = !Bun.deepEquals(ids(plan.config), ids(watch.config));
      if (idsChanged) {
        const taken = await claimCertIds(store, plan.config, ids(watch.config)).catch((err: unknown) => [`cannot claim the config's cert ids in the audit store: ${describeError(err)}`]);
        if (taken.length > 0) {
          log.error(`reload: config ${config.file} names cert ids this daemon cannot use; still running on the previous one`);
          for (const p of taken) log.error(`reload: ${p}`);
          return refuse(taken);
        }
      }
      let built: Watchlist;
      let sinks: Sinks;
      try {
        built = await buildWatchlist(plan.config, ctx, watch);
        sinks = await alerts.build(plan.config);
      } catch (err) {
        const problems = [describeError(err)];
        log.error(`reload: cannot build the new backends; still running on the previous config: ${problems[0]}`);
        return refuse(problems);
      }
      if (stopping) return refuse(["the daemon is stopping"]);
      let httpChanged: boolean;
      try {
        httpChanged = await http.apply(plan.config.http);
      } catch (err) {
        const problems = [err instanceof HttpSetupError ? err.message : describeError(err)];
        log.error(`reload: cannot set up the HTTP listener; still running on the previous config: ${problems[0]}`);
        return refuse(problems);
      }
      // Workers are told at their start which variables their commands must not inherit.
      const withheldChanged = !Bun.deepEquals(secretEnvNames(watch.config), secretEnvNames(plan.config));
      watch = built;
      alerts.use(plan.config, sinks);
      runner.configure(runnerSettings(plan.config, executorDeps, store, cluster), new Set(plan.config.certs.map((c) => c.id)));
      pool.configure(poolSettings(plan.config));
      // A worker keeps the backends it built: one whose section changed goes, with what it holds open.
      pool.recycle(plan.backendsChanged);
      if (withheldChanged) pool.recycleAll("the *_env variables of the config changed");
      scheduler.update(watch);
      if (idsChanged) {
        // The ids the running config dropped are free for another daemon; an outage now only keeps them held.
        void claimCertIds(store, plan.config).catch((err: unknown) => log.warn(`reload: cert ids dropped from the config stay claimed until the next start or a reload that changes the cert ids: ${describeError(err)}`));
      }
      (await import("../backends/install/filesystem/change-hints.ts")).keepFolderWatches(installFolders(plan.config));
      armSocketCheck();
      const applied = withListenerChange(plan, httpChanged);
      const { config: _, ...rest } = applied;
      const summary = reloadSummary(applied);
      log.info(`reload: ${summary}`);
      // For the next start, which runs on the file's state_dir: a new one is not there until then.
      if (next.daemon.stateDir === daemon.stateDir) keep(loaded.remember);
      return { ok: true, summary, ...rest };
    });
    return reloading;
  };

  const apiDeps: ApiDeps = {
    version,
    configFile: config.file,
    startedAt: clock.now(),
    certs: certSource(scheduler, runner, sync),
    actions: actions(scheduler, runner, reload),
    alerts,
    // The listener is built from these deps: read once a request comes, when it exists.
    daemon: daemonInfo(() => watch.config, runner, () => http),
    store,
    bus,
    clock,
    log,
    ...(cluster ? { cluster: cluster.port } : {}),
  };
  const app = createApi(apiDeps);
  const serve = (unix: string) => Bun.serve(socketServeOptions({ unix, fetch: app.fetch, websocket }));
  const http = new HttpListener({
    api: app,
    pages: dashboardRoutes(apiDeps),
    assets: assetRoutes(),
    websocket,
    stateDir: daemon.stateDir,
    bus,
    clock,
    log: scoped(log, { component: "http" }),
    ...(front?.tcp ? { bound: front.tcp } : {}),
  });
  try {
    await http.apply(config.http);
  } catch (err) {
    await Promise.all([http.stop(), alerts.stop(), cluster?.stop()]);
    if (err instanceof HttpSetupError) throw new ConfigError(config.file, [err.message]);
    throw err;
  }
  let server = front ? front.socket : await listenSocket(config, serve).catch(async (err: unknown) => {
    await Promise.all([http.stop(), alerts.stop(), cluster?.stop()]);
    throw err;
  });
  front?.open({ unix: app.fetch, tcp: http.fetch, websocket });
  let socketIno = lstatSync(daemon.socket).ino;
  log.info(`rota ${version} listening on ${daemon.socket}; ${watch.certs.length} cert(s), checking every ${daemon.checkIntervalSeconds}s`);
  // The scheduler's first tick knows whether this node leads.
  await cluster?.start();
  scheduler.start();
  sync?.start();
  void checkKeysLater(config, log, () => stopping);
  // The start's prune once the first sweep is over: not in the way of the first API answers.
  const retention = startRetention(
    {
      store,
      clock,
      retentionDays: config.audit.retentionDays,
      certIds: () => watch.certs.map((c) => c.config.id),
      log,
      leadership: cluster?.coordinator,
    },
    scheduler.firstLooks(),
  );
  if (keepParse) void scheduler.firstLooks().then(() => keep(keepParse));
  void scheduler.firstLooks().then(() => {
    if (!stopping) compact();
  });

  // A socket deleted by hand (or by a tmp cleaner) would leave the daemon running unreachable,
  // and a new daemon refused by the state lock: put it back. Something else put at the path
  // is someone's: left alone, and said once.
  let foreignIno: number | null = null;
  const checkSocket = async () => {
    if (stopping) return;
    const ino = lstatOrNull(daemon.socket)?.ino ?? null;
    if (ino === socketIno) return;
    if (ino !== null) {
      if (ino !== foreignIno) log.error(`socket ${daemon.socket} was replaced by something else; leaving it there, so the API is unreachable until it is removed`);
      foreignIno = ino;
      return;
    }
    try {
      // Bun's stop() unlinks the listener's path at once, even a graceful one: the old listener
      // is stopped before the new socket exists, or it would take the new one with it. Not
      // awaited: requests in flight on the old listener (a `renew --wait`) finish on their own.
      void server.stop();
      server = await listenSocket(config, serve);
      socketIno = lstatSync(daemon.socket).ino;
      foreignIno = null;
      log.warn(`socket ${daemon.socket} was removed; listening on a new one`);
    } catch (err) {
      log.error(`socket ${daemon.socket} was removed and cannot be recreated: ${describeError(err)}`);
    }
  };
  armSocketCheck();

  return {
    reload,
    async stop() {
      stopping = true;
      // First, within 1 s: another node may lead at once instead of after the lease's TTL.
      await cluster?.stop();
      // A reload in progress would re-arm the socket check and hand the scheduler a new watchlist.
      await reloading;
      cancelSocketCheck();
      // sync.stop() first: from its call on no sync run starts; awaited beside scheduler.stop(), whose abort ends a read-back its pass may wait on.
      await Promise.all([sync?.stop(), scheduler.stop(), runner.stop(), retention.stop()]);
      await pool.close();
      // The folder watches' thread, if a target started one: in a process that goes on (a test's), it would outlive the daemon.
      (await import("../backends/install/filesystem/watch-thread-client.ts")).stopWatchThread();
      await bus.drain();
      await alerts.stop();
      // Bun unlinks the path when the listener closes: whatever replaced our socket there is someone else's, kept.
      const other = lstatOrNull(daemon.socket);
      const keep = other && other.ino !== socketIno && !other.isDirectory() ? `${daemon.socket}.keep-${process.pid}` : null;
      if (keep) linkSync(daemon.socket, keep);
      await Promise.all([server.stop(true), http.stop()]);
      if (keep) renameSync(keep, daemon.socket);
      await store.close();
      lock.release();
    },
    abandon() {
      stopping = true;
      cancelSocketCheck();
      for (const pid of pool.killAll()) log.warn(`renewal process ${pid} still running; killed it`);
      // Only our own socket: something put there since is someone else's.
      if (lstatOrNull(daemon.socket)?.ino === socketIno) rmSync(daemon.socket, { force: true });
      lock.release();
    },
  };
}
