/**
 * @module The daemon: wires config, store, backends, scheduler and API together, and
 * takes them down in order. Signal handling lives in the CLI entry, which calls `stop()`.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createApi } from "../api/app.ts";
import type { Clock } from "../clock.ts";
import { ConfigError } from "../config/load.ts";
import { errnoText } from "../config/paths.ts";
import { preflight } from "../config/preflight.ts";
import type { RotaConfig } from "../config/schema.ts";
import { describeError, RotaError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { ensureDir } from "../fsutil.ts";
import { lockNow, type Lock } from "../lockfile.ts";
import type { Logger } from "../log.ts";
import { childExecutor } from "../pipeline/child.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import { Runner } from "../scheduler/runner.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { singleNode } from "../scheduler/leadership.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { buildWatched } from "./backends.ts";
import { listenUnix, SocketPathError } from "./socket.ts";

export interface DaemonOptions {
  config: RotaConfig;
  log: Logger;
  clock: Clock;
  version: string;
}

export interface RunningDaemon {
  stop(): Promise<void>;
}

/** How long startup may spend removing challenges a crashed run left behind. */
const RECOVERY_BUDGET_MS = 30_000;

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const { store, lock } = openState(opts.config, opts.log);
  try {
    return await startServices(opts, store, lock);
  } catch (err) {
    await store.close();
    lock.release();
    throw err;
  }
}

/**
 * The state folder, its lock and the audit store. A path that cannot be used is a config
 * problem (exit 2, naming the key), not a crash: the pre-start checks find what they can
 * before anything is created; what fails anyway is mapped the same way. Problems of one
 * cert (a key, an install folder) are logged, not fatal, so the other certs keep renewing.
 */
function openState(config: RotaConfig, log: Logger): { store: SqliteAuditStore; lock: Lock } {
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
    return { store: new SqliteAuditStore(config.audit.path), lock };
  } catch (err) {
    lock.release();
    throw problem("audit.path", `cannot open ${config.audit.path}`, err);
  }
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

async function startServices({ config, log, clock, version }: DaemonOptions, store: SqliteAuditStore, lock: Lock): Promise<RunningDaemon> {
  const { daemon } = config;
  const interrupted = await store.interruptRunning(clock.now());
  if (interrupted > 0) log.warn(`${interrupted} renewal(s) were running when the daemon last stopped; marked interrupted`);

  const bus = new EventBus((err, event) => log.error(`event ${event.type}: ${describeError(err)}`));
  subscribeAudit(bus, store);
  const backends = await buildWatched(config, { stateDir: daemon.stateDir, clock, log });
  const journal = new ChallengeJournal(daemon.stateDir);
  const recovered = await journal.recover(backends.dcvs, log, AbortSignal.timeout(RECOVERY_BUDGET_MS));
  if (recovered > 0) log.warn(`removed ${recovered} challenge(s) left by an earlier run`);

  const runner = new Runner({
    execute: childExecutor(config, bus, log),
    store,
    bus,
    clock,
    log,
    policy: { baseSeconds: daemon.failureCooldownSeconds, maxSeconds: daemon.failureCooldownMaxSeconds },
    maxConcurrent: daemon.maxConcurrentRenewals,
  });
  const scheduler = new Scheduler({ certs: backends.certs, runner, store, bus, clock, leadership: singleNode, journal, dcvs: backends.dcvs, daemon, log });
  const app = createApi({
    version,
    configFile: config.file,
    startedAt: clock.now(),
    certs: backends.certs,
    scheduler,
    runner,
    store,
    bus,
    clock,
    intervalSeconds: daemon.checkIntervalSeconds,
  });
  const server = await listenSocket(config, (unix) => Bun.serve({ unix, fetch: app.fetch }));
  log.info(`rota ${version} listening on ${daemon.socket}; ${backends.certs.length} cert(s), checking every ${daemon.checkIntervalSeconds}s`);
  scheduler.start();

  return {
    async stop() {
      await Promise.all([scheduler.stop(), runner.stop()]);
      await bus.drain();
      await server.stop(true);
      rmSync(daemon.socket, { force: true });
      await store.close();
      lock.release();
    },
  };
}
