/**
 * @module The daemon: wires config, store, backends, scheduler and API together, applies
 * reloads, keeps its socket in place, and takes everything down in order. Signal
 * handling lives in the CLI entry, which calls `reload()` and `stop()`.
 */
import { linkSync, lstatSync, renameSync, type Stats } from "node:fs";
import { join } from "node:path";
import { createApi } from "../api/app.ts";
import { websocket } from "../api/websocket.ts";
import { adoptSharedLocalCa } from "../backends/ca/local/layout.ts";
import type { Clock } from "../clock.ts";
import { ConfigError, loadConfig } from "../config/load.ts";
import { errnoText } from "../config/paths.ts";
import { preflight } from "../config/preflight.ts";
import type { RotaConfig } from "../config/schema.ts";
import { RotaError, describeError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { ensureDir } from "../fsutil.ts";
import { lockNow, type Lock } from "../lockfile.ts";
import { scoped, type Logger } from "../log.ts";
import { childExecutor } from "../pipeline/child.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import type { Watchlist } from "../pipeline/runtime.ts";
import { Runner, type RunnerSettings } from "../scheduler/runner.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { singleNode } from "../scheduler/leadership.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { openRecoveringStore } from "../store/recovering.ts";
import type { AuditStore } from "../store/types.ts";
import { actions, certSource } from "./api-ports.ts";
import { buildWatchlist } from "./backends.ts";
import { planReload, reloadSummary, type ReloadPlan } from "./reload.ts";
import { listenUnix, SocketPathError } from "./socket.ts";
import { startRetention } from "../store/retention.ts";

export interface DaemonOptions {
  config: RotaConfig;
  log: Logger;
  clock: Clock;
  version: string;
}

export type ReloadResult = ({ ok: true; summary: string } & Omit<ReloadPlan, "config">) | { ok: false; file: string; problems: string[] };

export interface RunningDaemon {
  /** Re-reads the config file and applies it, or keeps the running config and says why. Never throws. */
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
}

/** How long startup may spend removing challenges a crashed run left behind. */
const RECOVERY_BUDGET_MS = 30_000;
/** The socket is checked at every tick, and at least this often. */
const SOCKET_CHECK_MAX_MS = 60_000;

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const { store, lock } = openState(opts);
  try {
    return await startServices(opts, store, lock);
  } catch (err) {
    await store.close();
    lock.release();
    throw err;
  }
}

/** Errors opening a database that come from the path the config gives, not from the file's content. */
const PATH_PROBLEMS = new Set(["EACCES", "EPERM", "EROFS", "ENOENT", "ENOTDIR", "EISDIR", "SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM"]);

/**
 * The state folder, its lock and the audit store. A path that cannot be used is a config
 * problem (exit 2, naming the key), not a crash: the pre-start checks find what they can
 * before anything is created; what fails anyway is mapped the same way. Problems of one
 * cert (a key, an install folder) are logged, not fatal, so the other certs keep renewing.
 * A corrupt database is moved aside.
 */
function openState({ config, log, clock }: DaemonOptions): { store: AuditStore; lock: Lock } {
  const report = preflight(config);
  if (report.fatal.length > 0) throw new ConfigError(config.file, report.fatal);
  for (const line of [...report.certs, ...report.warnings]) log.warn(line);
  const problem = (key: string, what: string, err: unknown) => new ConfigError(config.file, [`${key}: ${what}: ${errnoText(err)}`]);
  try {
    ensureDir(config.daemon.stateDir, 0o700);
  } catch (err) {
    throw problem("daemon.state_dir", `cannot create ${config.daemon.stateDir}`, err);
  }
  // One daemon per state folder: a second would remove the first one's live challenges as
  // "left by a crash", and renew the same certs twice.
  let lock: Lock;
  try {
    lock = lockNow(join(config.daemon.stateDir, "daemon.lock"), `daemon: another rota daemon is running on state_dir ${config.daemon.stateDir}`);
  } catch (err) {
    if (err instanceof RotaError && err.code === "locked") throw err;
    throw problem("daemon.state_dir", `cannot lock ${config.daemon.stateDir}`, err);
  }
  try {
    return { store: openRecoveringStore(config.audit.path, log, clock), lock };
  } catch (err) {
    lock.release();
    const code = String((err as { code?: unknown }).code ?? "");
    // SQLite's extended codes (SQLITE_CANTOPEN_ISDIR) narrow a primary one.
    if (PATH_PROBLEMS.has(code) || PATH_PROBLEMS.has(code.split("_").slice(0, 2).join("_"))) throw problem("audit.path", `cannot open ${config.audit.path}`, err);
    throw new RotaError("store_unusable", `audit store: cannot open ${config.audit.path}: ${describeError(err)}`, { cause: err });
  }
}

function runnerSettings(config: RotaConfig, bus: EventBus, log: Logger): RunnerSettings {
  const d = config.daemon;
  return {
    execute: childExecutor(config, bus, log),
    policy: { baseSeconds: d.failureCooldownSeconds, maxSeconds: d.failureCooldownMaxSeconds },
    maxConcurrent: d.maxConcurrentRenewals,
    timeoutSeconds: d.renewalTimeoutSeconds,
  };
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

async function startServices({ config, log, clock, version }: DaemonOptions, store: AuditStore, lock: Lock): Promise<RunningDaemon> {
  const { daemon } = config;
  const interrupted = await store.interruptRunning(clock.now());
  if (interrupted > 0) log.warn(`${interrupted} renewal(s) were running when the daemon last stopped; marked interrupted`);

  const bus = new EventBus((err, event) => log.error(`event ${event.type}: ${describeError(err)}`));
  subscribeAudit(bus, store);
  adoptSharedLocalCa(daemon.stateDir, config.cas, log);
  const ctx = { stateDir: daemon.stateDir, clock, log };
  let watch: Watchlist = await buildWatchlist(config, ctx);
  const journal = new ChallengeJournal(daemon.stateDir);
  const recovered = await journal.recover(watch.dcvs, log, AbortSignal.timeout(RECOVERY_BUDGET_MS));
  if (recovered > 0) log.warn(`removed ${recovered} challenge(s) left by an earlier run`);

  const runner = new Runner({ store, bus, clock, log: scoped(log, { component: "runner" }) }, runnerSettings(config, bus, log));
  const scheduler = new Scheduler({ runner, store, bus, clock, leadership: singleNode, journal, log: scoped(log, { component: "scheduler" }) }, watch);

  let cancelSocketCheck = () => {};
  const armSocketCheck = () => {
    cancelSocketCheck();
    cancelSocketCheck = clock.setInterval(() => void checkSocket(), Math.min(watch.config.daemon.checkIntervalSeconds * 1000, SOCKET_CHECK_MAX_MS));
  };

  let reloading: Promise<ReloadResult> = Promise.resolve({ ok: false, file: config.file, problems: [] });
  const reload = (): Promise<ReloadResult> => {
    // One at a time: two quick SIGHUPs apply the file twice, in order.
    reloading = reloading.then(async () => {
      let next: RotaConfig;
      try {
        next = loadConfig(config.file);
      } catch (err) {
        const problems = err instanceof ConfigError ? err.problems : [describeError(err)];
        log.error(`reload: config ${config.file} is not valid; still running on the previous one:\n${problems.map((p) => `  ${p}`).join("\n")}`);
        return { ok: false, file: config.file, problems };
      }
      const plan = planReload(watch.config, next);
      try {
        watch = await buildWatchlist(plan.config, ctx, watch);
      } catch (err) {
        const problems = [describeError(err)];
        log.error(`reload: cannot build the new backends; still running on the previous config: ${problems[0]}`);
        return { ok: false, file: config.file, problems };
      }
      runner.configure(runnerSettings(plan.config, bus, log));
      scheduler.update(watch);
      armSocketCheck();
      const { config: _, ...rest } = plan;
      const summary = reloadSummary(plan);
      log.info(`reload: ${summary}`);
      return { ok: true, summary, ...rest };
    });
    return reloading;
  };

  const app = createApi({
    version,
    configFile: config.file,
    startedAt: clock.now(),
    certs: certSource(scheduler, runner),
    actions: actions(scheduler, runner, reload),
    store,
    bus,
    clock,
    log,
  });
  const serve = (unix: string) => Bun.serve({ unix, fetch: app.fetch, websocket });
  let server = await listenSocket(config, serve);
  let socketIno = lstatSync(daemon.socket).ino;
  log.info(`rota ${version} listening on ${daemon.socket}; ${watch.certs.length} cert(s), checking every ${daemon.checkIntervalSeconds}s`);
  scheduler.start();
  const retention = startRetention({ store, clock, retentionDays: config.audit.retentionDays, log });

  // A socket deleted by hand (or by a tmp cleaner) would leave the daemon running unreachable,
  // and a new daemon refused by the state lock: put it back. Something else put at the path
  // is someone's: left alone, and said once.
  let foreignIno: number | null = null;
  const checkSocket = async () => {
    const ino = lstatOrNull(daemon.socket)?.ino ?? null;
    if (ino === socketIno) return;
    if (ino !== null) {
      if (ino !== foreignIno) log.error(`socket ${daemon.socket} was replaced by something else; leaving it there, so the API is unreachable until it is removed`);
      foreignIno = ino;
      return;
    }
    try {
      // The old listener first: Bun unlinks the path when a unix listener closes, which would take the new socket too.
      await server.stop(true);
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
      cancelSocketCheck();
      await Promise.all([scheduler.stop(), runner.stop(), retention.stop()]);
      await bus.drain();
      // Bun unlinks the path when the listener closes: whatever replaced our socket there is someone else's, kept.
      const other = lstatOrNull(daemon.socket);
      const keep = other && other.ino !== socketIno && !other.isDirectory() ? `${daemon.socket}.keep-${process.pid}` : null;
      if (keep) linkSync(daemon.socket, keep);
      await server.stop(true);
      if (keep) renameSync(keep, daemon.socket);
      await store.close();
      lock.release();
    },
  };
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
