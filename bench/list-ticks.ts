/**
 * @module The full cert list in the compiled daemon, asked right after each sweep and again
 * with nothing changed (issue 11: "the full list ≤ 50 ms", every request). N local-CA certs
 * are issued once in this process (`daemon.ts`'s `seed`), the interval set to `--interval`
 * seconds; then each build given with `--rota` starts on that state in turn, `--rounds` times:
 * once its first sweep is over, the list is asked once (its rows built), then at each of
 * `--ticks` sweeps, a quarter of a second after the sweep's time, once ("after a sweep") and
 * three times more ("unchanged"). Wall time of each request with its body read, median and
 * max; the daemon's CPU per request (from /proc, in clock ticks of 10 ms, so a mean).
 * A report, not a test.
 *
 * Usage: bun bench/list-ticks.ts [--certs 10000] [--interval 10] [--ticks 8] [--rounds 2]
 *          [--rota A --rota B] [--keep | --state DIR]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROTA_BIN } from "../test/harness/index.ts";
import { configure, intervalLine, kept, prepare, seed, spawnDaemon, stopDaemon, TOKEN, type Setup } from "./daemon.ts";

const TICK_MS = 10;
/** After the sweep's time: a no-change sweep at 10,000 certs takes a few ms of CPU, more under load. */
const AFTER_SWEEP_MS = 250;
const UNCHANGED = 3;

const { values } = parseArgs({
  options: {
    certs: { type: "string", default: "10000" },
    interval: { type: "string", default: "10" },
    ticks: { type: "string", default: "8" },
    rounds: { type: "string", default: "2" },
    rota: { type: "string", multiple: true },
    state: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const builds = values.rota?.length ? values.rota : [ROTA_BIN];
const headers = { authorization: `Bearer ${TOKEN}` };

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

async function healthy(setup: Setup): Promise<void> {
  for (;;) {
    if ((await fetch(`${setup.base}/healthz`).catch(() => null))?.ok) return;
    await Bun.sleep(20);
  }
}

/** Once the daemon used under 20 ms of CPU in a second: its first sweep and start-up work are over. */
async function quiet(pid: number): Promise<void> {
  for (let last = cpuMs(pid); ; ) {
    await Bun.sleep(1000);
    const now = cpuMs(pid);
    if (now - last < 20) return;
    last = now;
  }
}

/** One `GET /api/certs`, its body read: wall ms and the daemon's CPU ms meanwhile. */
async function list(setup: Setup, pid: number, certs: number): Promise<{ wall: number; cpu: number }> {
  const cpu = cpuMs(pid);
  const t0 = performance.now();
  const body = await (await fetch(`${setup.base}/api/certs`, { headers })).text();
  const wall = performance.now() - t0;
  // The count of rows, without parsing 7 MiB: each row has one "domains_unicode" key.
  if (body.split('"domains_unicode":').length - 1 !== certs) throw new Error(`the list has not ${certs} rows`);
  return { wall, cpu: cpuMs(pid) - cpu };
}

interface Result {
  rota: string;
  first: number;
  after: { wall: number; cpu: number }[];
  unchanged: { wall: number; cpu: number }[];
  load: number;
}

async function measure(rota: string, setup: Setup, certs: number): Promise<Result> {
  const { proc } = spawnDaemon(setup, rota);
  try {
    await healthy(setup);
    await quiet(proc.pid);
    const first = (await list(setup, proc.pid, certs)).wall;
    const result: Result = { rota, first, after: [], unchanged: [], load: loadavg()[0]! };
    for (let t = 0; t < Number(values.ticks); t++) {
      const status = (await (await fetch(`${setup.base}/api/status`, { headers })).json()) as { next_tick: string };
      await Bun.sleep(Math.max(0, Date.parse(status.next_tick) - Date.now()) + AFTER_SWEEP_MS);
      result.after.push(await list(setup, proc.pid, certs));
      for (let n = 0; n < UNCHANGED; n++) result.unchanged.push(await list(setup, proc.pid, certs));
    }
    result.load = (result.load + loadavg()[0]!) / 2;
    return result;
  } finally {
    await stopDaemon(proc);
  }
}

function stateOf(dir: string): { setup: Setup; certs: number } {
  const config = join(dir, "rota.toml");
  const text = readFileSync(config, "utf8");
  const listen = /^listen = "([^"]+)"/m.exec(text)?.[1];
  if (!listen) throw new Error(`${config}: no [http] listen`);
  return { setup: { dir, config, base: `http://${listen}` }, certs: text.split("[[cert]]").length - 1 };
}

configure({ keep: values.keep || values.state !== undefined });
let setup: Setup;
let certs = Number(values.certs);
if (values.state) ({ setup, certs } = stateOf(values.state));
else {
  setup = await prepare("list-ticks", certs, { maxConcurrent: 4, checkIntervalSeconds: Number(values.interval) });
  console.log(`${certs} certs: issuing in this process…`);
  await seed(setup);
}
writeFileSync(setup.config, readFileSync(setup.config, "utf8").replace(/check_interval_seconds = \d+/, intervalLine(Number(values.interval))));

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const results: Result[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const rota of builds) {
    const r = await measure(rota, setup, certs);
    results.push(r);
    const line = (xs: { wall: number; cpu: number }[]) =>
      `p50 ${fmt(median(xs.map((x) => x.wall)))} ms, max ${fmt(Math.max(...xs.map((x) => x.wall)))} ms, CPU ${fmt(mean(xs.map((x) => x.cpu)))} ms`;
    console.log(`${rota} (load ${r.load.toFixed(1)}): first ${fmt(r.first)} ms; after a sweep ${line(r.after)}; unchanged ${line(r.unchanged)}`);
  }
}
for (const dir of kept()) console.log(`kept ${dir}`);
