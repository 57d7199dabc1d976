/**
 * @module Restart → `/healthz` of the compiled daemon at N certs (issue 11), one build or two
 * taking turns on the same state, so a before and an after meet the same machine load. Each
 * N gets its certs issued in this process (`daemon.ts`'s `seed`), a first daemon that sweeps
 * them all, then rounds of: stop (SIGTERM), spawn, time until `/healthz` answers, wait until
 * every cert is `ok` again (its first sweep over), next. Not a timed test: it prints figures.
 *
 * Usage: bun bench/restart.ts [--sizes 1000,10000] [--rounds 5] [--rota PATH] [--before PATH]
 *        [--reuse DIR] [--keep]
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { configure, fmt, kept, missingTool, prepare, printLog, seed, spawnDaemon, stopDaemon, table, waitAllOk, type Setup } from "./daemon.ts";
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
    keep: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});

interface Build {
  label: string;
  bin: string;
}

interface Result {
  certs: number;
  /** Per build, in `builds` order: every restart's time to `/healthz`, in ms. */
  ms: number[][];
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

async function measure(setup: Setup, certs: number, builds: Build[], rounds: number): Promise<Result> {
  console.log(`  the first daemon's sweep over ${certs} certs…`);
  let t0 = performance.now();
  let running = spawnDaemon(setup, builds[0]!.bin);
  await waitAllOk(setup, running.proc, certs, t0, running.logPath);
  const ms: number[][] = builds.map(() => []);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [i, build] of builds.entries()) {
        await stopDaemon(running.proc);
        t0 = performance.now();
        running = spawnDaemon(setup, build.bin);
        const took = await untilHealthy(setup, running.proc, t0);
        ms[i]!.push(took);
        console.log(`  round ${round + 1}, ${build.label}: ${fmt(took)} ms`);
        await waitAllOk(setup, running.proc, certs, t0, running.logPath);
      }
    }
  } catch (err) {
    printLog(running.logPath);
    throw err;
  } finally {
    await stopDaemon(running.proc);
  }
  return { certs, ms };
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
      return [`${r.certs}`, b.label, fmt(median(xs)), fmt(Math.min(...xs)), fmt(Math.max(...xs)), xs.map(fmt).join(" ")];
    }),
  );
  console.log("\n" + table(["certs", "build", "median ms", "min", "max", "each round"], rows, 2));
  console.log(`\nload average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
}

async function main(): Promise<number> {
  if (values.help) {
    console.log("Usage: bun bench/restart.ts [--sizes 1000,10000] [--rounds 5] [--rota PATH] [--before PATH] [--reuse DIR] [--keep]");
    return 0;
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
      console.log(`\n${certs} certs (state of ${setup.dir})`);
      results.push(await measure(setup, certs, builds, rounds));
    } else {
      for (const certs of sizes) {
        console.log(`\n${certs} certs: issuing every cert with rota's pipeline in this process…`);
        const setup = await prepare("restart", certs);
        await seed(setup);
        results.push(await measure(setup, certs, builds, rounds));
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
