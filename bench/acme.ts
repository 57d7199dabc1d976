/**
 * @module What the side-by-side ACME benches share (`first-cert.ts`, `dns01.ts`): clients
 * spawned with their output in a log file and killed on any exit, a rota daemon timed from
 * its spawn to its first installed certificate with its own audit trail saying where the
 * time went, a one-shot peer (lego, certbot) timed to its exit, and the summary figures.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

/** Per-issuance limit for any tool; lego polls every few seconds, so be generous. */
export const ISSUE_TIMEOUT_MS = 180_000;
/** How often a rota run looks for the installed files. */
const FILE_POLL_MS = 5;
/** Grace between SIGTERM and SIGKILL when stopping the daemon. */
const STOP_GRACE_MS = 10_000;

// Processes the benches start directly (not under the harness watchdog): killed on any exit.
const live = new Set<Subprocess>();

export function killLive(): void {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

// The harness's own SIGINT/SIGTERM handlers call process.exit, which lands here too.
process.on("exit", killLive);

export interface Spawned {
  proc: Subprocess;
  /** performance.now() just before spawn. */
  t0: number;
  /** Date.now() just before spawn, to compare with the daemon's own timestamps. */
  wall0: number;
  logPath: string;
}

/** Spawns `cmd` with stdout and stderr appended to `logPath` (no pipes to drain). */
export function spawnLogged(cmd: string[], logPath: string, env: Record<string, string | undefined>): Spawned {
  const fd = openSync(logPath, "a");
  try {
    const wall0 = Date.now();
    const t0 = performance.now();
    const proc = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdin: "ignore", stdout: fd, stderr: fd });
    live.add(proc);
    void proc.exited.then(() => live.delete(proc));
    return { proc, t0, wall0, logPath };
  } finally {
    closeSync(fd);
  }
}

export function readLog(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

export function tail(text: string, lines = 25): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
export async function stopProcess(proc: Subprocess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  try {
    await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// rota: a daemon to its first certificate.

export interface RotaRun {
  daemon: Spawned;
  /** Where the filesystem target writes the cert's files. */
  certDir: string;
  socket: string;
  certId: string;
}

export interface RotaIssuance {
  ms: number;
  /** Spawn to the daemon's own renewal start (config, store, backends, socket). */
  startupMs: number | undefined;
  /**
   * The renewal's start to its first step's start: the renewal process starting (each
   * renewal runs in a child process of the daemon) and reading its config.
   */
  childStartMs: number | undefined;
  /** duration_ms per pipeline step, from `rota audit --json`. */
  steps: Record<string, number>;
}

/** Polls for cert.pem and fullchain.pem; returns ms since spawn. */
export async function waitForCert(run: RotaRun): Promise<number> {
  const cert = join(run.certDir, "cert.pem");
  const full = join(run.certDir, "fullchain.pem");
  const { proc, t0, logPath } = run.daemon;
  for (;;) {
    if (existsSync(cert) && existsSync(full)) return performance.now() - t0;
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`rota daemon exited (${proc.exitCode ?? proc.signalCode}) before the cert appeared:\n${tail(readLog(logPath))}`);
    }
    if (performance.now() - t0 > ISSUE_TIMEOUT_MS) {
      throw new Error(`rota: no cert after ${ISSUE_TIMEOUT_MS} ms:\n${tail(readLog(logPath))}`);
    }
    await Bun.sleep(FILE_POLL_MS);
  }
}

interface AuditRow {
  status: string;
  started_at: string;
  /** `at` is when the step ended. */
  events: Array<{ step: string; status: string; duration_ms: number; at: string }>;
}

/** Where the daemon's time went, from its own audit trail (asked after timing stopped). */
async function rotaBreakdown(rotaBin: string, run: RotaRun): Promise<Omit<RotaIssuance, "ms">> {
  const none = { startupMs: undefined, childStartMs: undefined, steps: {} };
  const p = Bun.spawn([rotaBin, "audit", run.certId, "--json", "--socket", run.socket], { stdout: "pipe", stderr: "pipe" });
  const [out, , code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) return none;
  const rows = JSON.parse(out) as AuditRow[];
  const row = rows.find((r) => r.status === "succeeded") ?? rows[0];
  if (!row) return none;
  const steps: Record<string, number> = {};
  for (const e of row.events) steps[e.step] = (steps[e.step] ?? 0) + e.duration_ms;
  const started = Date.parse(row.started_at);
  const first = row.events[0];
  return {
    startupMs: started - run.daemon.wall0,
    childStartMs: first ? Date.parse(first.at) - first.duration_ms - started : undefined,
    steps,
  };
}

/** Times a started daemon to its first cert, reads its breakdown, and stops it. */
export async function timeRota(rotaBin: string, run: RotaRun): Promise<RotaIssuance> {
  try {
    const ms = await waitForCert(run);
    const breakdown = await rotaBreakdown(rotaBin, run);
    return { ms, ...breakdown };
  } finally {
    await stopProcess(run.daemon.proc);
  }
}

// ---------------------------------------------------------------------------
// Peers: one-shot clients.

export interface Issuance {
  ms: number;
}

/** Runs a one-shot client to completion; the time includes its exit, as a cron job sees it. */
export async function timeOneShot(name: string, cmd: string[], env: Record<string, string>, runDir: string, expectFile: string): Promise<Issuance> {
  mkdirSync(runDir, { recursive: true });
  const s = spawnLogged(cmd, join(runDir, `${name}.log`), env);
  const timer = setTimeout(() => s.proc.kill("SIGKILL"), ISSUE_TIMEOUT_MS);
  try {
    const code = await s.proc.exited;
    const ms = performance.now() - s.t0;
    if (code !== 0 || !existsSync(expectFile)) {
      throw new Error(`${name} failed (exit ${code ?? s.proc.signalCode}), ${expectFile} ${existsSync(expectFile) ? "exists" : "missing"}:\n${tail(readLog(s.logPath))}`);
    }
    return { ms };
  } finally {
    clearTimeout(timer);
    await stopProcess(s.proc, 1000);
  }
}

// ---------------------------------------------------------------------------
// Statistics.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Summary {
  ok: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(ms: number[]): Summary | undefined {
  if (ms.length === 0) return undefined;
  return { ok: ms.length, median: median(ms), min: Math.min(...ms), max: Math.max(...ms) };
}
