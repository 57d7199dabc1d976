/**
 * @module The daemon: wires config, store, backends, scheduler and API together, and
 * takes them down in order. Signal handling lives in the CLI entry, which calls `stop()`.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createApi } from "../api/app.ts";
import { adoptSharedLocalCa } from "../backends/ca/local/layout.ts";
import type { Clock } from "../clock.ts";
import { ConfigError } from "../config/load.ts";
import type { RotaConfig } from "../config/schema.ts";
import { describeError } from "../errors.ts";
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
import { startRetention } from "../store/retention.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { buildWatched } from "./backends.ts";
import { listenUnix } from "./socket.ts";

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
  const { store, lock } = openState(opts.config);
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
 * problem (exit 2, naming the key), not a crash.
 */
function openState(config: RotaConfig): { store: SqliteAuditStore; lock: Lock } {
  const problem = (key: string, what: string, err: unknown) => new ConfigError(config.file, [`${key}: ${what}: ${describeError(err)}`]);
  try {
    ensureDir(config.daemon.stateDir, 0o700);
  } catch (err) {
    throw problem("daemon.state_dir", `cannot create ${config.daemon.stateDir}`, err);
  }
  // One daemon per state folder: a second would remove the first one's live challenges as
  // "left by a crash", and renew the same certs twice.
  const lock = lockNow(join(config.daemon.stateDir, "daemon.lock"), `daemon: another rota daemon is running on state_dir ${config.daemon.stateDir}`);
  try {
    return { store: new SqliteAuditStore(config.audit.path), lock };
  } catch (err) {
    lock.release();
    throw problem("audit.path", `cannot open ${config.audit.path}`, err);
  }
}

async function startServices({ config, log, clock, version }: DaemonOptions, store: SqliteAuditStore, lock: Lock): Promise<RunningDaemon> {
  const { daemon } = config;
  const interrupted = await store.interruptRunning(clock.now());
  if (interrupted > 0) log.warn(`${interrupted} renewal(s) were running when the daemon last stopped; marked interrupted`);

  const bus = new EventBus((err, event) => log.error(`event ${event.type}: ${describeError(err)}`));
  subscribeAudit(bus, store);
  adoptSharedLocalCa(daemon.stateDir, config.cas, log);
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
  const server = await listenUnix(daemon.socket, (unix) => Bun.serve({ unix, fetch: app.fetch }));
  log.info(`rota ${version} listening on ${daemon.socket}; ${backends.certs.length} cert(s), checking every ${daemon.checkIntervalSeconds}s`);
  scheduler.start();
  const retention = startRetention({ store, clock, retentionDays: config.audit.retentionDays, log });

  return {
    async stop() {
      await Promise.all([scheduler.stop(), runner.stop(), retention.stop()]);
      await bus.drain();
      await server.stop(true);
      rmSync(daemon.socket, { force: true });
      await store.close();
      lock.release();
    },
  };
}
