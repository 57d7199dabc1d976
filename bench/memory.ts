/**
 * @module The daemon's memory at N certs, several builds taking turns on one kept state
 * (issue 11): with `--fresh`, each run a first issuance from an empty state (the peak of the
 * daemon and its workers, summed PSS, sampled every 100 ms, and when it came), else a restart
 * on the issued certs; the daemon's CPU per cert until every cert is `ok`; then, once the
 * workers have left (their CPU per cert, reaped by the daemon) and the daemon is quiet, its
 * `VmRSS`, `RssAnon` and `RssFile`. A build may be a wrapper running the sources with
 * `bench/heap-probe.ts` preloaded: named with `--probe` too (and `ROTA_HEAP_PROBE` set), it is
 * then asked (SIGUSR2) what its heap holds, and the report printed. A report, not a test.
 *
 * Usage: bun bench/memory.ts --state DIR [--fresh] [--rounds 1] --rota A [--rota B …] [--probe B]
 *        (DIR: a folder `interval.ts --keep` or `restart.ts --keep` left: rota.toml, state/, certs/)
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fmt, spawnDaemon, statusMiB, stopDaemon, table, TOKEN, type Setup } from "./daemon.ts";

const SAMPLE_MS = 100;
const MiB = 1024;

/** `cpuTicks`: its own user and system time; `childTicks`: its children's that it has reaped (the workers gone). */
function procStat(pid: number): { ppid: number; cpuTicks: number; childTicks: number } | null {
  try {
    const rest = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = rest.slice(rest.lastIndexOf(")") + 2).split(" ").map(Number);
    return { ppid: f[1]!, cpuTicks: f[11]! + f[12]!, childTicks: f[13]! + f[14]! };
  } catch {
    return null;
  }
}

function pssMiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0) / MiB;
  } catch {
    return 0;
  }
}

function children(pid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => procStat(p)?.ppid === pid);
}

interface Run {
  rota: string;
  okSeconds: number;
  peakPss: number;
  peakDaemonPss: number;
  /** Seconds from the spawn to the summed peak and to the daemon's own. */
  peakAt: { sum: number; daemon: number };
  /** CPU per cert (ms): the daemon's own until every cert was ok, its workers' once they were gone. */
  cpu: { daemon: number; workers: number };
  hwm: number;
  idle: { rss: number; anon: number; file: number };
  probe: string | null;
}

async function allOk(setup: Setup, certs: number): Promise<boolean> {
  const res = await fetch(`${setup.base}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }).catch(() => null);
  return res?.ok ? ((await res.json()) as { by_status: Record<string, number> }).by_status.ok === certs : false;
}

async function run(rota: string, setup: Setup, certs: number, fresh: boolean): Promise<Run> {
  if (fresh) {
    rmSync(join(setup.dir, "state"), { recursive: true, force: true });
    for (const d of readdirSync(join(setup.dir, "certs"))) rmSync(join(setup.dir, "certs", d), { recursive: true, force: true });
  }
  const t0 = performance.now();
  const { proc } = spawnDaemon(setup, rota);
  let peakPss = 0;
  let peakDaemonPss = 0;
  const peakAt = { sum: 0, daemon: 0 };
  let lastAsk = 0;
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`${rota} exited (${proc.exitCode}); see ${setup.dir}/daemon.log`);
      const own = pssMiB(proc.pid);
      const sum = own + children(proc.pid).reduce((s, k) => s + pssMiB(k), 0);
      const at = (performance.now() - t0) / 1000;
      if (own > peakDaemonPss) [peakDaemonPss, peakAt.daemon] = [own, at];
      if (sum > peakPss) [peakPss, peakAt.sum] = [sum, at];
      if (performance.now() - lastAsk > 250) {
        lastAsk = performance.now();
        if (await allOk(setup, certs)) break;
      }
      await Bun.sleep(SAMPLE_MS);
    }
    const okSeconds = (performance.now() - t0) / 1000;
    const daemonTicks = procStat(proc.pid)?.cpuTicks ?? 0;
    // Idle: no worker left, and no CPU used for a second.
    for (let waited = 0; waited < 60_000 && children(proc.pid).length > 0; waited += 250) await Bun.sleep(250);
    for (let last = -1, still = 0; still < 4; ) {
      await Bun.sleep(250);
      const now = procStat(proc.pid)?.cpuTicks ?? 0;
      still = now === last ? still + 1 : 0;
      last = now;
    }
    const s = statusMiB(proc.pid);
    // Clock ticks of 10 ms (USER_HZ 100).
    const cpu = { daemon: (daemonTicks * 10) / certs, workers: ((procStat(proc.pid)?.childTicks ?? 0) * 10) / certs };
    const probePath = process.env.ROTA_HEAP_PROBE;
    let probe: string | null = null;
    if (probePath && values.probe?.includes(rota)) {
      const before = existsSync(probePath) ? readFileSync(probePath, "utf8").length : 0;
      proc.kill("SIGUSR2");
      for (let i = 0; i < 100 && (existsSync(probePath) ? readFileSync(probePath, "utf8").length : 0) === before; i++) await Bun.sleep(100);
      probe = readFileSync(probePath, "utf8").slice(before).trim();
    }
    return { rota, okSeconds, peakPss, peakDaemonPss, peakAt, cpu, hwm: s.hwm, idle: s, probe };
  } finally {
    await stopDaemon(proc);
  }
}

const { values } = parseArgs({
  options: {
    state: { type: "string" },
    fresh: { type: "boolean", default: false },
    rounds: { type: "string", default: "1" },
    rota: { type: "string", multiple: true },
    probe: { type: "string", multiple: true },
  },
});
if (!values.state || !values.rota?.length) {
  console.log("Usage: bun bench/memory.ts --state DIR [--fresh] [--rounds 1] --rota A [--rota B …]");
  process.exit(2);
}
const dir = values.state;
const config = join(dir, "rota.toml");
const text = readFileSync(config, "utf8");
const setup: Setup = { dir, config, base: `http://${/^listen = "([^"]+)"/m.exec(text)?.[1]}` };
const certs = text.split("[[cert]]").length - 1;
const results: Run[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const rota of values.rota) {
    const r = await run(rota, setup, certs, values.fresh);
    console.log(
      `  ${rota}: ok after ${fmt(r.okSeconds)} s; peak PSS ${fmt(r.peakPss)} MiB at ${fmt(r.peakAt.sum)} s (daemon ${fmt(r.peakDaemonPss)} at ${fmt(r.peakAt.daemon)} s, VmHWM ${fmt(r.hwm)}); CPU per cert ${fmt(r.cpu.daemon)} / ${fmt(r.cpu.workers)} ms; idle RSS ${fmt(r.idle.rss)} (anon ${fmt(r.idle.anon)}, file ${fmt(r.idle.file)}); load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
    );
    if (r.probe) console.log(`  probe: ${r.probe}`);
    results.push(r);
  }
}
console.log(
  "\n" +
    table(
      ["build", "certs", values.fresh ? "issued (s)" : "ok (s)", "peak PSS MiB", "daemon peak PSS", "VmHWM", "CPU/cert daemon / workers (ms)", "idle RSS", "RssAnon", "RssFile"],
      results.map((r) => [r.rota, String(certs), fmt(r.okSeconds), fmt(r.peakPss), fmt(r.peakDaemonPss), fmt(r.hwm), `${fmt(r.cpu.daemon)} / ${fmt(r.cpu.workers)}`, fmt(r.idle.rss), fmt(r.idle.anon), fmt(r.idle.file)]),
    ),
);
