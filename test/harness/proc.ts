/**
 * @module Long-running test processes under a watchdog: spawn with logs, signal the
 * real command, stop with escalation, and poll for readiness.
 */
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { constants } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

/** Seconds after which `timeout` SIGKILLs a server even if the test process died. */
export const DEFAULT_WATCHDOG_SECONDS = 900;

export interface SpawnServerOptions {
  /** Names the log file (`<logDir>/<name>.log`) and prefixes error messages. */
  name: string;
  cmd: string[];
  logDir: string;
  /** Merged over process.env. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  watchdogSeconds?: number;
  /** Wait between the polite signal and SIGKILL in stop(). */
  graceMs?: number;
}

export interface ServerProcess {
  readonly name: string;
  /** pid of the `timeout` watchdog, which is also the process group of the whole tree. */
  readonly pid: number;
  readonly proc: Subprocess;
  /** stdout and stderr, interleaved in one file. */
  readonly logPath: string;
  readonly running: boolean;
  /** Exit code; a death by signal N reads as 128+N, as in a shell. */
  readonly exited: Promise<number>;
  /** pid of the command itself (the watchdog's child), for signals meant for it. */
  childPid(): Promise<number>;
  signal(sig: NodeJS.Signals): Promise<void>;
  /** `sig` to the command, then SIGKILL to the whole group after graceMs. */
  stop(sig?: NodeJS.Signals): Promise<number>;
  /** SIGKILL to the whole group, at once. */
  kill(): void;
  output(): string;
}

// Last-resort cleanup when the test process ends without its afterAll (Ctrl-C, a
// CI step killed with SIGTERM). The servers sit in their own process groups, so the
// terminal's signal does not reach them, and the watchdog would only act after
// watchdogSeconds. A SIGKILLed runner still leaves them to the watchdog.
const live = new Set<number>();
function killAllLive(): void {
  for (const pgid of live) killGroup(pgid, "SIGKILL");
}
process.on("exit", killAllLive);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    killAllLive();
    process.exit(128 + (constants.signals[sig] ?? 0));
  });
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  for (const target of [-pgid, pgid]) {
    try {
      process.kill(target, sig);
    } catch {
      // Already gone, or the group is not formed yet (the pid alone is tried too).
    }
  }
}

/** Exit code as a shell reports it: 128+N for a death by signal N. */
export function exitCodeOf(proc: Subprocess): number {
  if (proc.exitCode !== null) return proc.exitCode;
  const sig = proc.signalCode;
  return 128 + (sig ? (constants.signals[sig as keyof typeof constants.signals] ?? 0) : 0);
}

/** Children of `pid`; /proc/PID/task/PID/children is not compiled into every kernel. */
export function childPidsOf(pid: number): number[] {
  const r = Bun.spawnSync(["pgrep", "-P", String(pid)], { stdout: "pipe", stderr: "ignore" });
  return r.stdout
    .toString()
    .split("\n")
    .filter(Boolean)
    .map(Number);
}

/**
 * Starts `cmd` as `timeout --signal=KILL <N> cmd…` so it dies by itself even when
 * the test runner is killed. GNU timeout puts itself in a new process group, so one
 * group kill also reaches grandchildren (nginx workers).
 */
export function spawnServer(opts: SpawnServerOptions): ServerProcess {
  const watchdog = opts.watchdogSeconds ?? DEFAULT_WATCHDOG_SECONDS;
  const graceMs = opts.graceMs ?? 2000;
  const logPath = join(opts.logDir, `${opts.name}.log`);
  // One O_APPEND descriptor for both streams keeps their lines in order.
  const fd = openSync(logPath, "a");
  let proc: Subprocess;
  try {
    proc = Bun.spawn(["timeout", "--signal=KILL", String(watchdog), ...opts.cmd], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdin: "ignore",
      stdout: fd,
      stderr: fd,
    });
  } finally {
    closeSync(fd);
  }
  const pid = proc.pid;
  live.add(pid);
  const exited = proc.exited.then(() => {
    live.delete(pid);
    return exitCodeOf(proc);
  });

  let cachedChild: number | undefined;
  const childPid = async (): Promise<number> => {
    if (cachedChild !== undefined) return cachedChild;
    cachedChild = await waitFor(
      () => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new WaitAborted(`${opts.name}: exited before its child could be found`);
        }
        return childPidsOf(pid)[0];
      },
      5000,
      10,
      `${opts.name}: child of watchdog ${pid}`,
    );
    return cachedChild;
  };

  const server: ServerProcess = {
    name: opts.name,
    pid,
    proc,
    logPath,
    get running() {
      return proc.exitCode === null && proc.signalCode === null;
    },
    exited,
    childPid,
    async signal(sig) {
      process.kill(await childPid(), sig);
    },
    async stop(sig = "SIGTERM") {
      if (!server.running) return exited;
      try {
        await server.signal(sig);
      } catch {
        killGroup(pid, sig);
      }
      const timer = setTimeout(() => killGroup(pid, "SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      killGroup(pid, "SIGKILL");
    },
    output() {
      return existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
    },
  };
  return server;
}

/** Thrown from a waitFor predicate to stop polling at once (e.g. the server died). */
export class WaitAborted extends Error {
  override name = "WaitAborted";
}

/**
 * Polls `predicate` until it returns a truthy value, and returns that value.
 * A throw counts as "not yet" (the last one is reported on timeout), except
 * WaitAborted, which ends the wait.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 50,
  description = "condition",
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : "";
      throw new Error(`waitFor: ${description} not met within ${timeoutMs} ms${why}`, {
        cause: lastError,
      });
    }
    await Bun.sleep(intervalMs);
  }
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/**
 * Resolves once something accepts TCP connections on 127.0.0.1:port. Given the
 * server expected to bind it, fails fast (with its log) if that server exits.
 */
export async function waitForPort(
  port: number,
  timeoutMs = 10_000,
  server?: ServerProcess,
): Promise<void> {
  await waitFor(
    async () => {
      if (server && !server.running) {
        throw new WaitAborted(
          `${server.name} exited (code ${await server.exited}) before port ${port} opened:\n${server.output()}`,
        );
      }
      return tryConnect(port);
    },
    timeoutMs,
    50,
    `port 127.0.0.1:${port}${server ? ` (${server.name})` : ""}`,
  );
}
