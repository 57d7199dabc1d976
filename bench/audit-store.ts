/**
 * @module Audit store benchmark: SQLite (a temp file) beside SurrealDB (the test server,
 * rocksdb) in one run. A report, not a timed test.
 *
 * 1. Write rate through `subscribeAudit`, as the daemon writes: 1,000 renewals × 12 writes
 *    (open, 10 steps, close) emitted on a bus, timed until the bus drains; writes/s.
 * 2. `rota audit --limit 20` and `rota audit c42 --limit 100` against a `dist/rota daemon`
 *    on each store seeded with 10,000 renewals (100 certs, 3 steps each), by
 *    `hyperfine -N --warmup 3 --runs 30`; medians side by side with the Surreal/SQLite ratio.
 *    Reported target: SurrealDB's `rota audit` within 3× SQLite's.
 *
 * It measures the embedded engine of `@surrealdb/node` behind a loopback WebSocket pipe, not
 * a networked server: a real deployment adds the network's round trips to every call.
 *
 * Usage: bun bench/audit-store.ts [--rota PATH]. Exit 0 measured, 1 a measurement failed, 2 usage.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { createConsola } from "consola";
import { systemClock } from "../src/clock.ts";
import { loadConfig } from "../src/config/load.ts";
import { EventBus } from "../src/events.ts";
import { subscribeAudit } from "../src/store/audit-subscriber.ts";
import { openAuditStore } from "../src/store/open.ts";
import type { AuditStore } from "../src/store/types.ts";
import { startSurreal, type TestSurreal } from "../test/harness/surreal.ts";

const RENEWALS_WRITE = 1_000;
const STEPS_WRITE = 10;
const RENEWALS_SEEDED = 10_000;
const CERTS_SEEDED = 100;
const STEPS_SEEDED = 3;
const TARGET_RATIO = 3;
const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

function usage(message: string): never {
  console.error(`bench/audit-store: ${message}\nusage: bun bench/audit-store.ts [--rota PATH]`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let rota = resolve(import.meta.dir, "..", "dist", "rota");
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--rota" && argv[i + 1]) rota = resolve(argv[++i]!);
  else usage(`unknown argument ${argv[i]}`);
}
for (const [tool, hint] of [
  [rota, "bun scripts/build-binary.ts"],
  ["hyperfine", "scripts/test-deps.sh"],
] as const) {
  if (!Bun.which(tool)) usage(`${tool} not found (${hint})`);
}

const dir = mkdtempSync(join(tmpdir(), "rota-bench-audit-"));
let surreal: TestSurreal | undefined;
const daemons: Subprocess[] = [];

interface Backend {
  name: "sqlite" | "surrealdb";
  /** The `[audit]` section's lines. */
  audit: string[];
  stateDir: string;
}

/** A daemon with one cert from the built-in local CA (the audited certs are not configured), on this store; returns the config file's path. */
function configFile(b: Backend): string {
  const file = join(b.stateDir, "..", `${b.name}.toml`);
  const lines = [
    "[daemon]",
    `state_dir = ${JSON.stringify(b.stateDir)}`,
    `socket = ${JSON.stringify(join(b.stateDir, "rota.sock"))}`,
    "",
    "[audit]",
    ...b.audit,
    "",
    '[[ca]]\nname = "internal"\ntype = "local"',
    `[[install]]\nname = "files"\ntype = "filesystem"\ndir = ${JSON.stringify(join(b.stateDir, "..", `${b.name}-certs`))}`,
    '[[cert]]\nid = "bench"\ndomains = ["bench.example.test"]\nca = "internal"\ninstall = "files"',
    "",
  ];
  writeFileSync(file, lines.join("\n"));
  return file;
}

/** The store as the daemon opens it (buffered, its owner the bench). */
function open(b: Backend): Promise<AuditStore> {
  return openAuditStore(loadConfig(configFile(b)), { buffered: true, log: silent, clock: systemClock, owner: "bench" });
}

/** Writes per second through the bus, as the daemon's pipeline emits them. */
async function writeRate(store: AuditStore): Promise<number> {
  const bus = new EventBus((err) => {
    throw err;
  });
  subscribeAudit(bus, store);
  const started = performance.now();
  const t0 = Date.now();
  for (let r = 0; r < RENEWALS_WRITE; r++) {
    const renewalId = `w${r}`;
    const certId = `c${r % CERTS_SEEDED}`;
    bus.emit({ type: "renewal.started", renewalId, certId, trigger: "scheduled", installOnly: false, reason: "bench", at: new Date(t0 + r) });
    for (let s = 0; s < STEPS_WRITE; s++) {
      bus.emit({ type: "renewal.step", renewalId, certId, step: "publish", status: "ok", message: `step ${s}`, durationMs: 1, at: new Date(t0 + r) });
    }
    bus.emit({ type: "renewal.succeeded", renewalId, certId, serial: null, notAfter: null, at: new Date(t0 + r) });
  }
  await bus.drain();
  return (RENEWALS_WRITE * (STEPS_WRITE + 2)) / ((performance.now() - started) / 1000);
}

/** 10,000 renewals over 100 certs, each with 3 steps, 32 renewals at a time. */
async function seed(store: AuditStore): Promise<void> {
  const t0 = Date.UTC(2030, 0, 1);
  const one = async (r: number) => {
    const id = `s${r}`;
    await store.openRenewal({ id, certId: `c${r % CERTS_SEEDED}`, trigger: "scheduled", installOnly: false, reason: null, startedAt: new Date(t0 + r * 60_000) });
    for (let s = 0; s < STEPS_SEEDED; s++) await store.addStep(id, { step: "publish", at: new Date(t0 + r * 60_000 + s), status: "ok", message: `step ${s}`, durationMs: 1 });
    await store.closeRenewal(id, "succeeded", new Date(t0 + r * 60_000 + 10), null);
  };
  for (let r = 0; r < RENEWALS_SEEDED; r += 32) await Promise.all(Array.from({ length: Math.min(32, RENEWALS_SEEDED - r) }, (_, i) => one(r + i)));
}

async function startDaemon(b: Backend): Promise<string> {
  const socket = join(b.stateDir, "rota.sock");
  const log = join(b.stateDir, "..", `${b.name}-daemon.log`);
  const proc = Bun.spawn([rota, "daemon", "--config", configFile(b)], { stdout: Bun.file(log), stderr: Bun.file(log), env: { ...process.env } });
  daemons.push(proc);
  for (let i = 0; i < 300; i++) {
    if (Bun.spawnSync([rota, "status", "--socket", socket], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) return socket;
    if (proc.exitCode !== null) break;
    await Bun.sleep(100);
  }
  throw new Error(`the ${b.name} daemon did not start:\n${readFileSync(log, "utf8").slice(-2000)}`);
}

/** hyperfine's median, in ms. */
function hyperfine(cmd: string[]): number {
  const out = join(dir, `hf-${crypto.randomUUID()}.json`);
  const p = Bun.spawnSync(["hyperfine", "-N", "--warmup", "3", "--runs", "30", "--export-json", out, cmd.map((a) => `'${a}'`).join(" ")], { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`hyperfine ${cmd.join(" ")} failed: ${p.stderr.toString().slice(-1000)}`);
  const json = JSON.parse(readFileSync(out, "utf8")) as { results: { median: number }[] };
  return json.results[0]!.median * 1000;
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

async function main(): Promise<number> {
  surreal = await startSurreal({ dir: join(dir, "surreal"), engine: "rocksdb" });
  const passFile = join(dir, "surreal.pass");
  writeFileSync(passFile, surreal.password, { mode: 0o600 });
  const backends: Backend[] = [
    { name: "sqlite", audit: ['backend = "sqlite"', `path = ${JSON.stringify(join(dir, "sqlite-state", "rota.db"))}`], stateDir: join(dir, "sqlite-state") },
    {
      name: "surrealdb",
      audit: ['backend = "surrealdb"', `url = ${JSON.stringify(surreal.url)}`, `username = ${JSON.stringify(surreal.username)}`, `password_file = ${JSON.stringify(passFile)}`],
      stateDir: join(dir, "surreal-state"),
    },
  ];
  const rates = new Map<string, number>();
  const reads = new Map<string, number[]>();
  for (const b of backends) {
    mkdirSync(b.stateDir, { recursive: true, mode: 0o700 });
    console.error(`${b.name}: write rate (${RENEWALS_WRITE} renewals × ${STEPS_WRITE + 2} writes)`);
    const store = await open(b);
    rates.set(b.name, await writeRate(store));
    console.error(`${b.name}: seeding ${RENEWALS_SEEDED} renewals`);
    await seed(store);
    await store.close();
    const socket = await startDaemon(b);
    console.error(`${b.name}: hyperfine`);
    reads.set(b.name, [hyperfine([rota, "audit", "--limit", "20", "--socket", socket]), hyperfine([rota, "audit", "c42", "--limit", "100", "--socket", socket])]);
  }

  console.log("\nThe SurrealDB figures are the embedded engine (@surrealdb/node) behind a loopback WebSocket pipe, not a networked server.\n");
  const rows = [
    ["audit writes/s (subscribeAudit)", fmt(rates.get("sqlite")!), fmt(rates.get("surrealdb")!), `${(rates.get("sqlite")! / rates.get("surrealdb")!).toFixed(2)}× slower`],
    ...["rota audit --limit 20 (ms)", "rota audit c42 --limit 100 (ms)"].map((label, i) => {
      const s = reads.get("sqlite")![i]!;
      const r = reads.get("surrealdb")![i]!;
      return [label, fmt(s), fmt(r), `${(r / s).toFixed(2)}×${r / s <= TARGET_RATIO ? "" : ` (over the ${TARGET_RATIO}× target)`}`];
    }),
  ];
  const header = ["", "SQLite", "SurrealDB", "Surreal/SQLite"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const line of [header, ...rows]) console.log(line.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  console.log(`\nTarget (reported, not enforced): SurrealDB's rota audit within ${TARGET_RATIO}× SQLite's.`);
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`bench/audit-store: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  for (const p of daemons) {
    p.kill("SIGTERM");
    await p.exited;
  }
  await surreal?.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
