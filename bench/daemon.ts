/**
 * @module What the HTTP benches share: the compiled daemon with N configured certs on the
 * built-in local CA, every one issued and installed into a filesystem target, its `[http]`
 * listener on 127.0.0.1 with a token file; `wrk` against it; the daemon's RSS. Scratch
 * folders and daemons are removed and killed when the bench exits, Ctrl-C included.
 *
 * Issuing: up to `daemonIssues` certs the daemon issues them all at its start, which
 * measures that too; on a 2-CPU machine it manages about 8 a second, each renewal in its
 * own child process. Bigger sets are issued before the daemon starts by rota's own pipeline
 * run in this process (the same local CA, filesystem target, runner and SQLite audit store,
 * no child processes), into the state folder the daemon then opens: every cert has its
 * renewal, steps, issued certificate and install record, as if the daemon had issued it,
 * in a fraction of the time.
 */
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { createConsola } from "consola";
import { systemClock } from "../src/clock.ts";
import { loadConfig } from "../src/config/load.ts";
import { buildRuntime } from "../src/daemon/backends.ts";
import { EventBus } from "../src/events.ts";
import { ChallengeJournal } from "../src/pipeline/journal.ts";
import { runRenewal } from "../src/pipeline/renewer.ts";
import type { CertRuntime } from "../src/pipeline/runtime.ts";
import { Runner } from "../src/scheduler/runner.ts";
import { subscribeAudit } from "../src/store/audit-subscriber.ts";
import { openAuditStore } from "../src/store/open.ts";
import { makeTempDir, removeTempDir, ROTA_BIN as DEFAULT_ROTA_BIN } from "../test/harness/index.ts";

/** Issuing 10,000 certs with the local CA takes a while; give up well after that. */
const ISSUE_TIMEOUT_MS = 20 * 60_000;
const STATUS_POLL_MS = 500;
const PROGRESS_MS = 10_000;
/** Renewals at once while the daemon issues: on 2 CPUs 4 to 16 issue twice as fast as 64 child processes. */
const MAX_CONCURRENT = 16;
/** Renewals at once when this process issues (no child processes: CPU-bound, a few suffice). */
const SEED_CONCURRENT = 8;
export const TOKEN = "bench-token-0123456789abcdef";
export const BEARER = `Authorization: Bearer ${TOKEN}`;

let rotaBin = DEFAULT_ROTA_BIN;
const live = new Set<Subprocess>();
const scratch: string[] = [];
let keep = false;

process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
  if (!keep) for (const d of scratch) removeTempDir(d);
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

/** `--rota PATH` and `--keep`; the scratch folders kept, for the closing line. */
export function configure(opts: { rota?: string; keep?: boolean }): void {
  if (opts.rota) rotaBin = resolve(opts.rota);
  keep = !!opts.keep;
}

export function kept(): string[] {
  return keep ? [...scratch] : [];
}

/** The name of the first missing tool with how to get it, or null when the daemon and (unless `wrk` is false) wrk are there. */
export function missingTool(wrk = true): string | null {
  const tools = [[rotaBin, "bun scripts/build-binary.ts"], ...(wrk ? [["wrk", "scripts/test-deps.sh"]] : [])] as const;
  for (const [tool, hint] of tools) {
    if (!Bun.which(tool)) return `${tool} not found (${hint})`;
  }
  return null;
}

// ---------------------------------------------------------------------------
// The daemon

export interface Setup {
  dir: string;
  config: string;
  /** The `[http]` listener's origin, e.g. `http://127.0.0.1:41234`. */
  base: string;
}

export function certId(i: number): string {
  return `c${String(i).padStart(5, "0")}`;
}

/** The `[daemon]` settings a bench may set; the defaults suit the HTTP benches. */
export interface DaemonSettings {
  maxConcurrent: number;
  checkIntervalSeconds: number;
  /** `worker_idle_seconds`; the daemon's default (60) when unset. */
  workerIdleSeconds?: number;
}

const HTTP_BENCH_DAEMON: DaemonSettings = { maxConcurrent: MAX_CONCURRENT, checkIntervalSeconds: 3600 };

/** The config's `check_interval_seconds` line, as `writeConfig` writes it: a bench rewrites it before a reload. */
export function intervalLine(seconds: number): string {
  return `check_interval_seconds = ${seconds}`;
}

function writeConfig(dir: string, certs: number, port: number, daemon: DaemonSettings): string {
  const lines = [
    "[daemon]",
    'state_dir = "state"',
    'socket = "rota.sock"',
    intervalLine(daemon.checkIntervalSeconds),
    `max_concurrent_renewals = ${daemon.maxConcurrent}`,
    ...(daemon.workerIdleSeconds === undefined ? [] : [`worker_idle_seconds = ${daemon.workerIdleSeconds}`]),
    "",
    "[[ca]]",
    'name = "internal"',
    'type = "local"',
    "",
    "[[install]]",
    'name = "files"',
    'type = "filesystem"',
    'dir = "certs"',
    "",
    "[http]",
    `listen = "127.0.0.1:${port}"`,
    'token_file = "api-token"',
    "",
  ];
  for (let i = 0; i < certs; i++) {
    lines.push("[[cert]]", `id = "${certId(i)}"`, `domains = ["${certId(i)}.bench.home.arpa"]`, 'ca = "internal"', 'install = ["files"]', "");
  }
  const path = join(dir, "rota.toml");
  writeFileSync(path, lines.join("\n"));
  return path;
}

async function freeTcpPort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export async function prepare(name: string, certs: number, daemon = HTTP_BENCH_DAEMON): Promise<Setup> {
  const dir = makeTempDir(`rota-bench-${name}-${certs}-`);
  scratch.push(dir);
  mkdirSync(join(dir, "certs"));
  writeFileSync(join(dir, "api-token"), `${TOKEN}\n`, { mode: 0o600 });
  const port = await freeTcpPort();
  return { dir, config: writeConfig(dir, certs, port, daemon), base: `http://127.0.0.1:${port}` };
}

/** Every cert of the config issued and installed by rota's pipeline in this process, audited in its store. */
export async function seed(setup: Setup, concurrency = SEED_CONCURRENT): Promise<void> {
  const silent = createConsola({ level: Number.NEGATIVE_INFINITY });
  const config = loadConfig(setup.config);
  const ctx = { stateDir: config.daemon.stateDir, clock: systemClock, log: silent, emit: () => {}, withheldEnv: () => [] };
  const store = await openAuditStore(config, { buffered: false, log: silent, clock: systemClock });
  const bus = new EventBus((err) => console.error(`bench: seeding: ${String(err)}`));
  subscribeAudit(bus, store);
  const journal = new ChallengeJournal(config.daemon.stateDir);
  // Every cert has the same CA and target: build them once.
  const shared = await buildRuntime(config, config.certs[0]!.id, ctx);
  const runtimes = new Map<string, CertRuntime>(config.certs.map((c) => [c.id, { ...shared, config: c }]));
  const runner = new Runner(
    { store, bus, clock: systemClock, log: silent },
    {
      execute: (req) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock: systemClock, journal }),
      policy: { baseSeconds: 900, maxSeconds: 86_400 },
      maxAuthzFailures: 5,
      maxConcurrent: concurrency,
      timeoutSeconds: 1800,
    },
  );
  const outcomes = await Promise.all([...runtimes.values()].map((cert) => runner.start(cert, "startup")!.done));
  await bus.drain();
  await runner.stop();
  await store.close();
  const failed = outcomes.filter((o) => !o.ok).length;
  if (failed > 0) throw new Error(`seeding: ${failed} of ${outcomes.length} renewals failed`);
}

/** `bin`: another build than `--rota`'s, for a bench that compares two on one state. */
export function spawnDaemon(setup: Setup, bin = rotaBin): { proc: Subprocess; logPath: string } {
  const { dir, config } = setup;
  const logPath = join(dir, "daemon.log");
  const fd = openSync(logPath, "a");
  try {
    const proc = Bun.spawn([bin, "daemon", "--config", config], { cwd: dir, stdin: "ignore", stdout: fd, stderr: fd });
    live.add(proc);
    void proc.exited.then(() => live.delete(proc));
    return { proc, logPath };
  } finally {
    closeSync(fd);
  }
}

export async function stopDaemon(proc: Subprocess): Promise<void> {
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  await proc.exited;
  clearTimeout(timer);
}

interface StatusJson {
  certs: number;
  by_status: Record<string, number>;
}

/** Waits until `/api/status` counts every cert ok; returns how long that took from the spawn. */
export async function waitAllOk(setup: Setup, proc: Subprocess, certs: number, t0: number, logPath: string): Promise<number> {
  let last = "";
  let shown = 0;
  while (performance.now() - t0 < ISSUE_TIMEOUT_MS) {
    if (proc.exitCode !== null) throw new Error(`the daemon exited (${proc.exitCode}):\n${tail(readFileSync(logPath, "utf8"))}`);
    const res = await fetch(`${setup.base}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }).catch(() => null);
    // Anything but a refusal is the daemon still starting; a refused token would only end in the timeout.
    if (res?.status === 401) throw new Error(`the listener refused the bench's token: ${await res.text()}`);
    const status = res?.ok ? ((await res.json()) as StatusJson) : null;
    if (status) {
      if (status.by_status.ok === certs) return performance.now() - t0;
      last = JSON.stringify(status.by_status);
      if (performance.now() - shown > PROGRESS_MS) {
        console.error(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${last}`);
        shown = performance.now();
      }
    }
    await Bun.sleep(STATUS_POLL_MS);
  }
  throw new Error(`not every cert was ok after ${ISSUE_TIMEOUT_MS / 1000} s: ${last}`);
}

export function tail(text: string, lines = 25): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

export interface Running {
  setup: Setup;
  proc: Subprocess;
  logPath: string;
  /** Set when this process issued the certs before the daemon started. */
  seedSeconds: number | undefined;
  /** From the daemon's spawn until every cert is ok: its issuance of them all, or its first look at certs issued already. */
  okSeconds: number;
}

/**
 * A daemon with `certs` certs, every one issued and ok; `name` tells its scratch folder
 * apart. The caller stops it (`stopDaemon`); on a failure here it is stopped already and
 * the tail of its log printed.
 */
export async function startIssued(name: string, certs: number, daemonIssues: boolean): Promise<Running> {
  const setup = await prepare(name, certs);
  let seedSeconds: number | undefined;
  if (!daemonIssues) {
    console.log(`\n${certs} certs: issuing every cert with rota's pipeline in this process…`);
    const t = performance.now();
    await seed(setup);
    seedSeconds = (performance.now() - t) / 1000;
    console.log(`  issued in ${seedSeconds.toFixed(1)} s; starting the daemon on that state…`);
  } else {
    console.log(`\n${certs} certs: starting the daemon, which issues every cert with the local CA…`);
  }
  const t0 = performance.now();
  const { proc, logPath } = spawnDaemon(setup);
  try {
    const okMs = await waitAllOk(setup, proc, certs, t0, logPath);
    console.log(`  all ${certs} ok ${(okMs / 1000).toFixed(1)} s after the daemon's spawn`);
    return { setup, proc, logPath, seedSeconds, okSeconds: okMs / 1000 };
  } catch (err) {
    printLog(logPath);
    await stopDaemon(proc);
    throw err;
  }
}

export function printLog(logPath: string): void {
  console.error(`  daemon log (${logPath}):\n${tail(readFileSync(logPath, "utf8"))}`);
}

/** How the certs came to be issued, for the closing lines of a report. */
export function issuedHow(r: { seedSeconds: number | undefined; okSeconds: number }): string {
  return r.seedSeconds === undefined
    ? `the daemon issued every cert at its start: all ok ${r.okSeconds.toFixed(1)} s after its spawn`
    : `issued in this process in ${r.seedSeconds.toFixed(1)} s; the daemon then had every cert ok ${r.okSeconds.toFixed(1)} s after its spawn`;
}

// ---------------------------------------------------------------------------
// Measuring

export interface Measure {
  rps: number;
  p50: number;
  p99: number;
}

/** wrk prints latencies as 812.00us, 1.20ms, 1.01s. */
function ms(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) throw new Error(`wrk: cannot read the latency ${JSON.stringify(text)}`);
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as "us" | "ms" | "s" | "m"];
  return Number(m[1]) * scale;
}

/** `header` is the credential every request carries (`Authorization: …` or `Cookie: …`). */
export async function wrk(url: string, connections: number, seconds: number, header: string): Promise<Measure> {
  const args = ["wrk", "--latency", "-t", String(Math.min(connections, 2)), "-c", String(connections), "-d", `${seconds}s`, "-H", header];
  const proc = Bun.spawn([...args, url], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`wrk exited ${code}: ${err || out}`);
  // Every reply must have been a 2xx: a fast 404 or a redirect to the login would flatter the figures, a refused credential slow them (401s wait ~300 ms).
  if (/Non-2xx or 3xx responses/.test(out) || /Socket errors/.test(out)) throw new Error(`wrk saw failed requests:\n${out}`);
  // A route slower than the run leaves wrk with no latency to report (it prints zeros).
  if (/^\s*0 requests in/m.test(out)) throw new Error(`wrk: no request completed in ${seconds} s (give --duration more):\n${out}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)?.[1];
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1];
  if (!rps || !p50 || !p99) throw new Error(`wrk: unexpected output:\n${out}`);
  return { rps: Number(rps), p50: ms(p50), p99: ms(p99) };
}

/** /proc reports CPU time in clock ticks of 1/100 s (`getconf CLK_TCK`). */
const PROC_TICK_MS = 10;

/** The process's CPU time (user + system, ms) from /proc. */
export function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * PROC_TICK_MS;
}

/** Once `/healthz` answers 200. */
export async function healthy(setup: Setup): Promise<void> {
  for (;;) {
    if ((await fetch(`${setup.base}/healthz`).catch(() => null))?.ok) return;
    await Bun.sleep(20);
  }
}

/** Once the daemon used under 20 ms of CPU in a second: its first sweep and start-up work are over. */
export async function quietDaemon(pid: number): Promise<void> {
  for (let last = cpuMs(pid); ; ) {
    await Bun.sleep(1000);
    const now = cpuMs(pid);
    if (now - last < 20) return;
    last = now;
  }
}

export function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return kb ? Number(kb) / 1024 : NaN;
}

/** The process's `VmRSS`, `RssAnon`, `RssFile` and `VmHWM` (MiB); zeros once it is gone. */
export function statusMiB(pid: number): { rss: number; anon: number; file: number; hwm: number } {
  let text = "";
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    // gone
  }
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) / 1024;
  return { rss: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile"), hwm: field("VmHWM") };
}

/** A figure in 3 significant digits or so, for the tables. */
export function fmt(n: number): string {
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

/** A plain-text table: the first `left` columns aligned left, the figures right. */
export function table(header: string[], rows: string[][], left = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/**
 * A bench's command line and loop, shared by every bench: `--certs 1000,10000 --duration 5
 * --daemon-issues N --rota PATH --keep`; runs `bench` per size and `report` on the results.
 * Resolves with the exit code (2 usage or a missing tool, 1 a failed run).
 */
export async function runBench<R>(
  name: string,
  defaults: { daemonIssues: number; certs?: string; duration?: string; wrk?: boolean },
  bench: (certs: number, seconds: number, daemonIssues: boolean) => Promise<R>,
  report: (results: R[]) => void,
): Promise<number> {
  const { values } = parseArgs({
    options: {
      certs: { type: "string", default: defaults.certs ?? "1000,10000" },
      sizes: { type: "string" },
      duration: { type: "string", default: defaults.duration ?? "5" },
      "daemon-issues": { type: "string", default: String(defaults.daemonIssues) },
      rota: { type: "string" },
      keep: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(`Usage: bun bench/${name}.ts [--certs|--sizes ${defaults.certs ?? "1000,10000"}] [--duration SECONDS] [--daemon-issues N] [--rota PATH] [--keep]`);
    return 0;
  }
  configure(values);
  const sizes = (values.sizes ?? values.certs).split(",").map(Number);
  const seconds = Number(values.duration);
  const daemonIssues = Number(values["daemon-issues"]);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(seconds >= 1) || !Number.isInteger(daemonIssues)) {
    console.error(`bench/${name}: --certs (or --sizes) takes whole numbers separated by commas, --duration whole seconds, --daemon-issues a whole number`);
    return 2;
  }
  const missing = missingTool(defaults.wrk ?? true);
  if (missing) {
    console.error(`bench/${name}: ${missing}`);
    return 2;
  }
  const results: R[] = [];
  try {
    for (const n of sizes) results.push(await bench(n, seconds, n <= daemonIssues));
  } catch (err) {
    console.error(`bench/${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  report(results);
  if (kept().length > 0) console.log(`\nKept: ${kept().join(" ")}`);
  return 0;
}
