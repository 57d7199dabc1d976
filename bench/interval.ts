/**
 * @module The idle daemon at N certs, several builds side by side on one state: its memory
 * after the first sweep and its CPU per no-change interval, split by thread, so that what
 * the interval costs beyond the scheduler's own work (the runtime's allocator, JIT and
 * collector threads) shows. The certs are issued once, in this process (`daemon.ts`'s
 * `seed`); each build then starts on that state in turn, `--rounds` times, alternating, so
 * that a change in the machine's load falls on every build alike. A report, not a test.
 *
 * Usage: bun bench/interval.ts [--certs 1000,10000] [--interval 10] [--rounds 2] [--rota A --rota B …]
 *        bun bench/interval.ts --state DIR …   (a folder a run kept with --keep: its certs, not issued again)
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { configure, cpuMs, fmt, healthy, intervalLine, prepare, quietDaemon, seed, spawnDaemon, stopDaemon, table, type Setup } from "./daemon.ts";
import { ROTA_BIN } from "../test/harness/index.ts";

/** /proc reports CPU time in clock ticks of 1/100 s (`getconf CLK_TCK`). */
const TICK_MS = 10;

/** CPU time (ms) of each of the process's threads, by thread name ("main" for the JavaScript thread), summed over threads of one name. */
function threadsMs(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue; // a thread that ended meanwhile
    }
    const name = tid === String(pid) ? "main" : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    byName.set(name, (byName.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) * TICK_MS);
  }
  return byName;
}

function statusMiB(pid: number, field: "VmRSS" | "RssAnon" | "RssFile"): number {
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
}

interface Result {
  rota: string;
  certs: number;
  rss: number;
  anon: number;
  file: number;
  perInterval: number;
  threads: Map<string, number>;
}

async function measure(rota: string, setup: Setup, certs: number, seconds: number): Promise<Result> {
  configure({ rota, keep: values.keep || values.state !== undefined });
  const { proc } = spawnDaemon(setup);
  try {
    await healthy(setup);
    await quietDaemon(proc.pid);
    const rss = { rss: statusMiB(proc.pid, "VmRSS"), anon: statusMiB(proc.pid, "RssAnon"), file: statusMiB(proc.pid, "RssFile") };
    // Three whole intervals: three ticks fall in any window that long.
    const before = threadsMs(proc.pid);
    const t0 = cpuMs(proc.pid);
    await Bun.sleep(3 * seconds * 1000);
    const used = cpuMs(proc.pid) - t0;
    const threads = new Map<string, number>();
    for (const [name, ms] of threadsMs(proc.pid)) if (ms - (before.get(name) ?? 0) > 0) threads.set(name, (ms - (before.get(name) ?? 0)) / 3);
    return { rota, certs, ...rss, perInterval: used / 3, threads };
  } finally {
    await stopDaemon(proc);
  }
}

const { values } = parseArgs({
  options: {
    certs: { type: "string", default: "1000,10000" },
    interval: { type: "string", default: "10" },
    rounds: { type: "string", default: "2" },
    rota: { type: "string", multiple: true },
    state: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const builds = values.rota?.length ? values.rota : [ROTA_BIN];
const seconds = Number(values.interval);
const results: Result[] = [];

/** A kept folder's setup and its number of certs, from its config. */
function kept(dir: string): { setup: Setup; certs: number } {
  const config = join(dir, "rota.toml");
  const text = readFileSync(config, "utf8");
  const listen = /^listen = "([^"]+)"/m.exec(text)?.[1];
  if (!listen) throw new Error(`${config}: no [http] listen`);
  return { setup: { dir, config, base: `http://${listen}` }, certs: text.split("[[cert]]").length - 1 };
}

for (const size of values.state ? [0] : values.certs.split(",").map(Number)) {
  let setup: Setup;
  let certs = size;
  if (values.state) ({ setup, certs } = kept(values.state));
  else {
    setup = await prepare("interval", certs, { maxConcurrent: 4, checkIntervalSeconds: seconds });
    console.log(`${certs} certs: issuing in this process…`);
    await seed(setup);
  }
  writeFileSync(setup.config, readFileSync(setup.config, "utf8").replace(/check_interval_seconds = \d+/, intervalLine(seconds)));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const rota of builds) {
      const r = await measure(rota, setup, certs, seconds);
      console.log(`  ${rota}: ${fmt(r.perInterval)} ms CPU per interval, RSS ${fmt(r.rss)} MiB (anon ${fmt(r.anon)}, file ${fmt(r.file)}); by thread: ${[...r.threads].map(([n, ms]) => `${n} ${fmt(ms)}`).join(", ")}`);
      results.push(r);
    }
  }
}
const header = ["build", "certs", "CPU/interval ms", "main thread ms", "other threads ms", "RSS MiB", "RssAnon MiB", "RssFile MiB"];
console.log(
  "\n" +
    table(
      header,
      results.map((r) => {
        const main = r.threads.get("main") ?? 0;
        return [r.rota, String(r.certs), fmt(r.perInterval), fmt(main), fmt(r.perInterval - main), fmt(r.rss), fmt(r.anon), fmt(r.file)];
      }),
    ),
);
