/**
 * @module The memory floor under issue 11's idle target: `floor-toy.ts` compiled with the
 * shipped binary's flags and run at N certs, with the JIT and without, idle after its first
 * sweep. Set beside `memory.ts`'s figures for `dist/rota` on kept states, it shows what the
 * runtime costs before rota's own per-cert state. A report, not a test.
 *
 * Usage: bun bench/floor.ts [--sizes 10,1000,10000] [--rounds 1] [--keep]
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpuMs, fmt, quietDaemon, statusMiB, table } from "./daemon.ts";
import { makeTempDir, removeTempDir } from "../test/harness/index.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "10,1000,10000" },
    rounds: { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
  },
});
const sizes = values.sizes.split(",").map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(Number(values.rounds) >= 1)) {
  console.error("bench/floor: --sizes takes whole numbers separated by commas, --rounds a whole number");
  process.exit(2);
}

const work = makeTempDir("rota-bench-floor-");
process.on("exit", () => {
  if (!values.keep) removeTempDir(work);
});
const toy = join(work, "toy");
// The flags of `scripts/build-binary.ts` that shape the running daemon's memory.
const build = Bun.spawnSync(
  ["bun", "build", "--compile", "--minify", "--bytecode", "--format=esm", "--compile-exec-argv=--smol", join(import.meta.dir, "floor-toy.ts"), "--outfile", toy],
  { stdout: "pipe", stderr: "pipe" },
);
if (build.exitCode !== 0) {
  console.error(`bench/floor: compiling the toy failed:\n${build.stderr.toString()}`);
  process.exit(1);
}

interface Row {
  certs: number;
  jit: boolean;
  rss: number;
  anon: number;
  file: number;
  hwm: number;
  cpuMs: number;
}

async function run(certs: number, jit: boolean): Promise<Row> {
  const dir = join(work, `state-${certs}`);
  mkdirSync(dir, { recursive: true });
  const port = 20_000 + Math.floor(Math.random() * 40_000);
  const env: Record<string, string> = { ...process.env, TOY_CERTS: String(certs), TOY_DIR: dir, TOY_PORT: String(port) } as Record<string, string>;
  if (!jit) env.BUN_JSC_useJIT = "0";
  const proc = Bun.spawn([toy], { env, stdout: "ignore", stderr: "inherit" });
  try {
    while (!(await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok) {
      if (proc.exitCode !== null) throw new Error(`the toy exited (${proc.exitCode})`);
      await Bun.sleep(20);
    }
    await quietDaemon(proc.pid);
    return { certs, jit, ...statusMiB(proc.pid), cpuMs: cpuMs(proc.pid) };
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

const rows: Row[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const certs of sizes) {
    for (const jit of [true, false]) {
      const r = await run(certs, jit);
      console.error(`  ${certs} certs, JIT ${jit ? "on" : "off"}: RSS ${fmt(r.rss)} MiB (anon ${fmt(r.anon)}, file ${fmt(r.file)})`);
      rows.push(r);
    }
  }
}
console.log(
  table(
    ["certs", "JIT", "idle VmRSS (MiB)", "RssAnon", "RssFile", "VmHWM", "CPU to idle (ms)"],
    rows.map((r) => [String(r.certs), r.jit ? "on" : "off", fmt(r.rss), fmt(r.anon), fmt(r.file), fmt(r.hwm), String(r.cpuMs)]),
  ),
);
console.log(`load average ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")}`);
if (values.keep) console.log(`kept ${work}`);
