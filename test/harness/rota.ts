/**
 * @module The compiled rota binary under test: one-shot CLI runs and a long-running
 * daemon, both under a watchdog.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_WATCHDOG_SECONDS, exitCodeOf, spawnServer, waitFor, WaitAborted, type ServerProcess } from "./proc.ts";

/** Absolute path of the binary the end-to-end tests exercise (not the sources). */
export const ROTA_BIN = resolve(import.meta.dir, "..", "..", "dist", "rota");

function requireBinary(): void {
  if (!existsSync(ROTA_BIN)) {
    throw new Error(`${ROTA_BIN} does not exist: run \`bun scripts/build-binary.ts\` first`);
  }
}

export interface RunRotaOptions {
  /** Merged over process.env. */
  env?: Record<string, string | undefined>;
  /** Watchdog for this run; default 60 s. */
  timeoutMs?: number;
  cwd?: string;
  /** Written to the child's stdin, then closed. */
  input?: string;
}

export interface RotaResult {
  /** Exit code; death by signal N reads 128+N (137 when the watchdog fired). */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export async function runRota(args: string[], opts: RunRotaOptions = {}): Promise<RotaResult> {
  requireBinary();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const started = Date.now();
  const proc = Bun.spawn(
    ["timeout", "--signal=KILL", `${Math.max(timeoutMs, 1) / 1000}s`, ROTA_BIN, ...args],
    {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdin: opts.input !== undefined ? new TextEncoder().encode(opts.input) : "ignore",
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [stdout, stderr] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const code = exitCodeOf(proc);
  // When `timeout --signal=KILL` fires it dies by SIGKILL itself (137, not its usual
  // 124); the elapsed time tells that apart from rota being SIGKILLed by something else.
  const timedOut = code === 137 && Date.now() - started >= timeoutMs - 50;
  return { code, stdout, stderr, timedOut };
}

export interface StartDaemonOptions {
  /** Merged over process.env. */
  env?: Record<string, string | undefined>;
  /** Run as this uid (via setpriv, groups cleared); gid defaults to the same number. */
  uid?: number;
  gid?: number;
  /** The executable; default dist/rota. */
  bin?: string;
  /** Full argv after the binary; default `daemon --config <configPath>`. */
  args?: string[];
  cwd?: string;
  /** Where the log goes; default a fresh temp dir. */
  logDir?: string;
  watchdogSeconds?: number;
  /** Wait after the stop signal before SIGKILL; default 10 s. */
  graceMs?: number;
}

export interface Daemon {
  proc: ServerProcess["proc"];
  server: ServerProcess;
  /** stdout and stderr, interleaved. */
  logPath: string;
  /** Sends `signal` to rota itself and resolves with its exit code (128+N by signal N). */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** Sends a signal without waiting (e.g. SIGHUP to reload). */
  signal(signal: NodeJS.Signals): Promise<void>;
  kill(): void;
  output(): string;
  /** Resolves when the log matches; fails at once, with the log, if rota exits. */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
}

export function startDaemon(configPath: string, opts: StartDaemonOptions = {}): Daemon {
  requireBinary();
  const logDir = opts.logDir ?? mkdtempSync(join(tmpdir(), "rota-daemon-"));
  const args = opts.args ?? ["daemon", "--config", configPath];
  // setpriv execs in place, so the watchdog's child is still rota itself.
  const asUser =
    opts.uid !== undefined
      ? ["setpriv", `--reuid=${opts.uid}`, `--regid=${opts.gid ?? opts.uid}`, "--clear-groups"]
      : [];
  const server = spawnServer({
    name: "rota",
    logDir,
    cwd: opts.cwd,
    env: opts.env,
    watchdogSeconds: opts.watchdogSeconds ?? DEFAULT_WATCHDOG_SECONDS,
    graceMs: opts.graceMs ?? 10_000,
    cmd: [...asUser, opts.bin ?? ROTA_BIN, ...args],
  });
  return {
    proc: server.proc,
    server,
    logPath: server.logPath,
    stop: (signal = "SIGTERM") => server.stop(signal),
    signal: (signal) => server.signal(signal),
    kill: () => server.kill(),
    output: () => server.output(),
    async waitForOutput(pattern, timeoutMs = 30_000) {
      const matches = (text: string) =>
        typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
      await waitFor(
        async () => {
          const text = server.output();
          if (matches(text)) return true;
          if (!server.running) {
            throw new WaitAborted(`rota exited (code ${await server.exited}) before ${pattern}:\n${text}`);
          }
          return false;
        },
        timeoutMs,
        50,
        `rota log to match ${pattern}`,
      );
    },
  };
}
