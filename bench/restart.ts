/**
 * @module Restart → `/healthz` of the compiled daemon at N certs (issue 11), one build or two
 * taking turns on the same state, so a before and an after meet the same machine load. Each
 * N gets its certs issued in this process (`daemon.ts`'s `seed`), a first daemon that sweeps
 * them all, then rounds of: stop (SIGTERM), spawn, time until `/healthz` answers (and the
 * process's CPU time then), wait until every cert is `ok` again (its first sweep over), next.
 * A build that changes the store's schema leaves a database the older one refuses: the before
 * build then runs on a copy of the state of its own (`--reuse-before`). Not a timed test: it
 * prints figures.
 *
 * Usage: bun bench/restart.ts [--sizes 1000,10000] [--rounds 5] [--rota PATH] [--before PATH]
 *        [--reuse DIR [--reuse-before DIR]] [--keep]
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { configure, cpuMs, fmt, kept, missingTool, prepare, printLog, seed, spawnDaemon, stopDaemon, table, waitAllOk, type Setup } from "./daemon.ts";
import { ROTA_BIN } from "../test/harness/index.ts";

const HEALTHZ_POLL_MS = 2;
const HEALTHZ_TIMEOUT_MS = 60_000;

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,10000" },
    rounds: { type: "string", default: "5" },
    rota: { type: "string" },
    before: { type: "string" },
    reuse: { type: "string" },
    "reuse-before": { type: "string" },
    keep: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});

interface Build {
  label: string;
  bin: string;
}

/** A build on the state it starts on. */
interface Run {
  build: Build;
  setup: Setup;
}

interface Result {
  certs: number;
  /** Per build, in `builds` order: every restart's time to `/healthz`, in ms. */
  ms: number[][];
  /** The same restarts' CPU time (all threads, from `/proc`) when `/healthz` answered, in ms. */
  cpu: number[][];
}

/** A state kept by `--keep`: its config and how many certs it has. */
function reused(dir: string): { setup: Setup; certs: number } {
  const config = join(dir, "rota.toml");
  const text = readFileSync(config, "utf8");
  const listen = /^listen = "([^"]+)"$/m.exec(text)?.[1];
  if (!listen) throw new Error(`${config} has no [http] listen line`);
  return { setup: { dir, config, base: `http://${listen}` }, certs: text.match(/^\[\[cert\]\]$/gm)?.length ?? 0 };
}

async function untilHealthy(setup: Setup, proc: Subprocess, t0: number): Promise<number> {
  while (performance.now() - t0 < HEALTHZ_TIMEOUT_MS) {
    if (proc.exitCode !== null) throw new Error(`the daemon exited (${proc.exitCode}) on restart`);
    const res = await fetch(`${setup.base}/healthz`).catch(() => null);
    if (res?.ok) return performance.now() - t0;
    await Bun.sleep(HEALTHZ_POLL_MS);
  }
  throw new Error(`no /healthz answer ${HEALTHZ_TIMEOUT_MS / 1000} s after the spawn`);
}

async function measure(runs: Run[], certs: number, rounds: number): Promise<Result> {
  const ms: number[][] = runs.map(() => []);
  const cpu: number[][] = runs.map(() => []);
  let running: ReturnType<typeof spawnDaemon> | null = null;
  try {
    // Each state's first sweep by its own build: one it has not migrated or parsed yet costs that here, not in round 1.
    for (const { build, setup } of runs.filter((r, i) => i === 0 || r.setup !== runs[0]!.setup)) {
      console.log(`  ${build.label}: the first daemon's sweep over ${certs} certs…`);
      if (running) await stopDaemon(running.proc);
      const t0 = performance.now();
      running = spawnDaemon(setup, build.bin);
      await waitAllOk(setup, running.proc, certs, t0, running.logPath);
    }
    for (let round = 0; round < rounds; round++) {
      for (const [i, { build, setup }] of runs.entries()) {
        if (running) await stopDaemon(running.proc);
        const t0 = performance.now();
        running = spawnDaemon(setup, build.bin);
        const took = await untilHealthy(setup, running.proc, t0);
        const used = cpuMs(running.proc.pid);
        ms[i]!.push(took);
        cpu[i]!.push(used);
        console.log(`  round ${round + 1}, ${build.label}: ${fmt(took)} ms, ${fmt(used)} ms of CPU`);
        await waitAllOk(setup, running.proc, certs, t0, running.logPath);
      }
    }
  } catch (err) {
    if (running) printLog(running.logPath);
    throw err;
  } finally {
    if (running) await stopDaemon(running.proc);
  }
  return { certs, ms, cpu };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function report(results: Result[], builds: Build[]): void {
  const rows = results.flatMap((r) =>
    builds.map((b, i) => {
      const xs = r.ms[i]!;
      const cpu = r.cpu[i]!;
      return [`${r.certs}`, b.label, fmt(median(xs)), fmt(Math.min(...xs)), fmt(Math.max(...xs)), fmt(median(cpu)), fmt(Math.min(...cpu)), fmt(Math.max(...cpu)), xs.map(fmt).join(" ")];
    }),
  );
  console.log("\n" + table(["certs", "build", "median ms", "min", "max", "CPU median ms", "min", "max", "each round (ms)"], rows, 2));
  console.log(`\nload average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
}

async function main(): Promise<number> {
  if (values.help) {
    console.log("Usage: bun bench/restart.ts [--sizes 1000,10000] [--rounds 5] [--rota PATH] [--before PATH] [--reuse DIR [--reuse-before DIR]] [--keep]");
    return 0;
  }
  if (values["reuse-before"] && !(values.reuse && values.before)) {
    console.error("bench/restart: --reuse-before goes with --reuse and --before");
    return 2;
  }
  configure({ rota: values.rota, keep: values.keep });
  const rounds = Number(values.rounds);
  const sizes = values.sizes.split(",").map(Number);
  if (!Number.isInteger(rounds) || rounds < 1 || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error("bench/restart: --rounds takes a whole number, --sizes whole numbers separated by commas");
    return 2;
  }
  const builds: Build[] = [
    ...(values.before ? [{ label: "before", bin: resolve(values.before) }] : []),
    { label: values.before ? "after" : "rota", bin: values.rota ? resolve(values.rota) : ROTA_BIN },
  ];
  const missing = missingTool(false) ?? builds.map((b) => (Bun.which(b.bin) ? null : `${b.bin} not found`)).find((m) => m !== null);
  if (missing) {
    console.error(`bench/restart: ${missing}`);
    return 2;
  }
  const results: Result[] = [];
  try {
    if (values.reuse) {
      const { setup, certs } = reused(resolve(values.reuse));
      const own = values["reuse-before"] ? reused(resolve(values["reuse-before"])) : null;
      if (own && own.certs !== certs) throw new Error(`--reuse-before has ${own.certs} certs, --reuse ${certs}`);
      console.log(`\n${certs} certs (state of ${setup.dir}${own ? `; the before build's: ${own.setup.dir}` : ""})`);
      results.push(await measure(builds.map((build, i) => ({ build, setup: own && i === 0 ? own.setup : setup })), certs, rounds));
    } else {
      for (const certs of sizes) {
        console.log(`\n${certs} certs: issuing every cert with rota's pipeline in this process…`);
        const setup = await prepare("restart", certs);
        await seed(setup);
        results.push(await measure(builds.map((build) => ({ build, setup })), certs, rounds));
      }
    }
  } catch (err) {
    console.error(`bench/restart: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  report(results, builds);
  if (kept().length > 0) console.log(`\nKept: ${kept().join(" ")}`);
  return 0;
}

process.exitCode = await main();
