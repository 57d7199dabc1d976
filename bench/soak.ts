/**
 * @module The daemon's memory over a long run (issue 11): N certs issued in this process
 * (`daemon.ts`'s `seed`), the compiled daemon on that state with a short interval, and for
 * `--minutes` a steady load of what an operator's tools do: the cert list, one cert's view,
 * the renewal history and the status every few seconds, and a forced renewal of the next
 * cert every `--renew-every` seconds, so that the audit history grows while memory should
 * not. RSS is sampled every `--sample` seconds once `--warmup` minutes have passed. One
 * sample lands anywhere between two collections (10 to 30 MiB apart at 1,000 certs), so where
 * the run started and ended is read off a least-squares line through every sample, beside the
 * median and lowest of the first and last `--window` minutes. A report, not a test.
 *
 * Usage: bun bench/soak.ts [--certs 1000] [--interval 2] [--minutes 60] [--warmup 2]
 *        [--sample 10] [--window 10] [--renew-every 30] [--rota PATH] [--keep]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { certId, configure, fmt, kept, missingTool, prepare, printLog, seed, spawnDaemon, stopDaemon, table, TOKEN } from "./daemon.ts";

const { values } = parseArgs({
  options: {
    certs: { type: "string", default: "1000" },
    interval: { type: "string", default: "2" },
    minutes: { type: "string", default: "60" },
    warmup: { type: "string", default: "2" },
    sample: { type: "string", default: "10" },
    window: { type: "string", default: "10" },
    "renew-every": { type: "string", default: "30" },
    rota: { type: "string" },
    keep: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log("Usage: bun bench/soak.ts [--certs 1000] [--interval 2] [--minutes 60] [--warmup 2] [--sample 10] [--window 10] [--renew-every 30] [--rota PATH] [--keep]");
  process.exit(0);
}
configure(values);
const certs = Number(values.certs);
const interval = Number(values.interval);
const minutes = Number(values.minutes);
const warmup = Number(values.warmup);
const sampleS = Number(values.sample);
const windowMin = Number(values.window);
const renewEvery = Number(values["renew-every"]);
if ([certs, interval, minutes, sampleS, renewEvery, windowMin].some((n) => !(n >= 1)) || !(warmup >= 0) || windowMin * 2 > minutes) {
  console.error("bench/soak: every option takes a positive number, and --window at most half of --minutes");
  process.exit(2);
}
const missing = missingTool(false);
if (missing) {
  console.error(`bench/soak: ${missing}`);
  process.exit(2);
}

/** /proc reports CPU time in clock ticks of 1/100 s. */
const TICK_MS = 10;
/** Seconds between two rounds of API reads. */
const READ_EVERY_S = 5;

interface Sample {
  minute: number;
  rss: number;
  anon: number;
  file: number;
  cpuS: number;
  renewals: number;
}

function status(pid: number): { rss: number; anon: number; file: number; cpuS: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN) / 1024;
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return { rss: mib("VmRSS"), anon: mib("RssAnon"), file: mib("RssFile"), cpuS: ((Number(f[11]) + Number(f[12])) * TICK_MS) / 1000 };
}

const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };
let failures = 0;

async function get(base: string, path: string): Promise<void> {
  const res = await fetch(`${base}${path}`, auth).catch((err: unknown) => {
    throw new Error(`GET ${path}: ${String(err)}`);
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
}

const setup = await prepare("soak", certs, { maxConcurrent: 4, checkIntervalSeconds: interval });
console.log(`${certs} certs: issuing in this process…`);
await seed(setup);
const { proc, logPath } = spawnDaemon(setup);
console.log(`daemon ${proc.pid}: ${interval}-s interval, reads every ${READ_EVERY_S} s, a forced renewal every ${renewEvery} s`);

for (;;) {
  if (proc.exitCode !== null) {
    printLog(logPath);
    process.exit(1);
  }
  if ((await fetch(`${setup.base}/healthz`).catch(() => null))?.ok) break;
  await Bun.sleep(20);
}

let stop = false;
let renewed = 0;
const reads = (async () => {
  for (let i = 0; !stop; i++) {
    try {
      await get(setup.base, "/healthz");
      await get(setup.base, "/api/status");
      await get(setup.base, "/api/certs");
      await get(setup.base, `/api/certs/${certId(i % certs)}`);
      await get(setup.base, "/api/certs?status=ok&sort=days_left&limit=50");
      await get(setup.base, "/api/renewals?limit=20");
    } catch (err) {
      failures++;
      console.error(`  ${String(err)}`);
    }
    await Bun.sleep(READ_EVERY_S * 1000);
  }
})();
const renewals = (async () => {
  for (let i = 0; !stop; i++) {
    await Bun.sleep(renewEvery * 1000);
    if (stop) break;
    const res = await fetch(`${setup.base}/api/certs/${certId(i % certs)}/renew?force=1`, { method: "POST", ...auth }).catch(() => null);
    await res?.arrayBuffer();
    if (res?.status === 202) renewed++;
    else {
      failures++;
      console.error(`  renew ${certId(i % certs)}: ${res?.status ?? "no answer"}`);
    }
  }
})();

const samples: Sample[] = [];
const t0 = performance.now();
try {
  await Bun.sleep(warmup * 60_000);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the daemon exited (${proc.exitCode})`);
    const s = { minute: (performance.now() - t0) / 60_000 - warmup, ...status(proc.pid), renewals: renewed };
    samples.push(s);
    if ((samples.length - 1) % Math.max(1, Math.round(60 / sampleS)) === 0) console.log(`  ${fmt(s.minute)} min: RSS ${fmt(s.rss)} MiB (anon ${fmt(s.anon)}, file ${fmt(s.file)}), CPU ${fmt(s.cpuS)} s, ${s.renewals} forced renewals`);
    if (s.minute >= minutes) break;
    await Bun.sleep(sampleS * 1000);
  }
} catch (err) {
  console.error(`bench/soak: ${String(err)}`);
  printLog(logPath);
  process.exit(1);
} finally {
  stop = true;
  await stopDaemon(proc);
  await Promise.allSettled([reads, renewals]);
}

interface Window {
  label: string;
  median: Sample;
  lowest: Sample;
}

function median(xs: Sample[], key: "rss" | "anon"): Sample {
  return [...xs].sort((a, b) => a[key] - b[key])[Math.floor(xs.length / 2)]!;
}

function window(label: string, xs: Sample[]): Window {
  return { label, median: median(xs, "rss"), lowest: xs.reduce((a, b) => (b.rss < a.rss ? b : a)) };
}

const end = samples.at(-1)!.minute;
const first = window(`minutes 0–${windowMin}`, samples.filter((s) => s.minute <= windowMin));
const last = window(`minutes ${fmt(end - windowMin)}–${fmt(end)}`, samples.filter((s) => s.minute >= end - windowMin));
const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
const row = (label: string, s: Sample) => [label, fmt(s.minute), fmt(s.rss), fmt(s.anon), fmt(s.file)];
console.log(
  "\n" +
    table(
      ["", "minute", "RSS MiB", "RssAnon MiB", "RssFile MiB"],
      [
        row(`${first.label}, median`, first.median),
        row(`${first.label}, lowest`, first.lowest),
        row(`${last.label}, median`, last.median),
        row(`${last.label}, lowest`, last.lowest),
        row("highest of all", peak),
      ],
      1,
    ),
);
const mb = (mib: number) => (mib * 1024 * 1024) / 1e6;
const signed = (n: number) => `${n >= 0 ? "+" : ""}${fmt(n)}`;
/** The least-squares line through every sample's RSS: its rise from the first sample's minute to the last's. */
function fittedRise(xs: Sample[]): number {
  const mx = xs.reduce((a, s) => a + s.minute, 0) / xs.length;
  const my = xs.reduce((a, s) => a + s.rss, 0) / xs.length;
  const sxy = xs.reduce((a, s) => a + (s.minute - mx) * (s.rss - my), 0);
  const sxx = xs.reduce((a, s) => a + (s.minute - mx) ** 2, 0);
  return sxx === 0 ? 0 : (sxy / sxx) * (xs.at(-1)!.minute - xs[0]!.minute);
}

const riseMB = mb(fittedRise(samples));
console.log(
  `\nOver ${fmt(end)} min (${samples.length} samples): RSS on the fitted line ${signed(riseMB)} MB (target: within 5 MB: ${Math.abs(riseMB) <= 5 ? "met" : "NOT met"}); ` +
    `window medians ${signed(mb(last.median.rss - first.median.rss))} MB, lowest ${signed(mb(last.lowest.rss - first.lowest.rss))} MB; ` +
    `${renewed} forced renewals, ${failures} failed requests; daemon CPU ${fmt(samples.at(-1)!.cpuS - samples[0]!.cpuS)} s over the samples.`,
);
if (kept().length > 0) console.log(`Kept: ${kept().join(" ")}`);
