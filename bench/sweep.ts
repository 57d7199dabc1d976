/**
 * @module The scheduler's sweep with renewal plans (issue 12): 10,000 local-CA certs, each
 * with a stored 90-day certificate its target is recorded to serve, swept in this process
 * by the real Scheduler on the real SQLite store. It prints the first sweep (which writes
 * every cert's renewal_plan row), a sweep that finds nothing changed (no write), and the
 * first sweep after a restart (the plans read in bulk, none written), each with the plan
 * writes it made. A report, not a test: it judges nothing. For a "before", copy this file
 * into an older checkout's bench/ and run it there (its store has no plans: 0 writes).
 *
 * Usage: bun bench/sweep.ts [--certs 10000] [--sweeps 3]
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createConsola } from "consola";
import type { InstallBackend } from "../src/backends/types.ts";
import { systemClock } from "../src/clock.ts";
import type { CertConfig } from "../src/config/schema.ts";
import { EventBus } from "../src/events.ts";
import { ChallengeJournal } from "../src/pipeline/journal.ts";
import type { CertRuntime, Watchlist } from "../src/pipeline/runtime.ts";
import { singleNode } from "../src/scheduler/leadership.ts";
import { Runner } from "../src/scheduler/runner.ts";
import { Scheduler } from "../src/scheduler/scheduler.ts";
import { SqliteAuditStore } from "../src/store/sqlite.ts";
import { testConfig } from "../src/testing/config.ts";

const { values } = parseArgs({ options: { certs: { type: "string", default: "10000" }, sweeps: { type: "string", default: "3" } } });
const N = Number(values.certs);
const SWEEPS = Number(values.sweeps);
const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

/** One 90-day certificate for bench.example, made by openssl: every cert stores the same leaf under its own id. */
function leafPem(dir: string): string {
  const out = join(dir, "leaf.pem");
  const p = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "leaf.key"), "-out", out, "-days", "90", "-subj", "/CN=bench.example", "-addext", "subjectAltName=DNS:bench.example"],
    { stdout: "ignore", stderr: "pipe" },
  );
  if (p.exitCode !== 0) throw new Error(`openssl: ${p.stderr.toString()}`);
  return readFileSync(out, "utf8");
}

/** A target that cannot read back: the scheduler takes it to serve what the store recorded. */
const files: InstallBackend = { name: "files", install: async () => {} };

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "rota-bench-sweep-"));
  try {
    const leaf = leafPem(dir);
    const x = new X509Certificate(leaf);
    const serial = x.serialNumber.toLowerCase();
    const dbPath = join(dir, "rota.db");
    const seeding = new SqliteAuditStore(dbPath);
    const t0 = performance.now();
    const certs: CertRuntime[] = [];
    for (let i = 0; i < N; i++) {
      const id = `c${String(i).padStart(5, "0")}`;
      await seeding.saveIssued({ certId: id, renewalId: `seed-${i}`, leafPem: leaf, chainPem: leaf, serial, notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo), issuedAt: new Date() });
      await seeding.saveInstalled({ certId: id, target: "files", serial, installedAt: new Date() });
      const config: CertConfig = { id, domains: ["bench.example"], ca: "internal", dcv: undefined, install: ["files"], keyPath: join(dir, `${id}.key`), keyType: "ecdsa-p256", renewThresholdDays: undefined, keyRotation: "never" };
      certs.push({ config, ca: undefined as never, dcv: undefined, installs: [files] });
    }
    await seeding.close();
    console.log(`seeded ${N} certs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const watch: Watchlist = { config: testConfig(dir, certs.map((c) => c.config), { checkIntervalSeconds: 7 * 86_400 }), certs, dcvs: new Map() };
    const rows: string[][] = [];
    for (const phase of ["first start", "restart"] as const) {
      const store = new SqliteAuditStore(dbPath);
      let writes = 0;
      // Counted where the store has plans (an older checkout's has none).
      const put = store.putRenewalPlan?.bind(store);
      if (put) {
        store.putRenewalPlan = async (p) => {
          writes++;
          return put(p);
        };
      }
      const bus = new EventBus(() => {});
      const runner = new Runner({ store, bus, clock: systemClock, log: silent }, { execute: async () => ({ ok: false, error: new Error("bench: nothing renews"), interrupted: false }), policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 4, timeoutSeconds: 1800 });
      const s = new Scheduler({ runner, store, bus, clock: systemClock, leadership: singleNode, journal: new ChallengeJournal(dir), log: silent }, watch);
      for (let i = 0; i < (phase === "restart" ? 1 : SWEEPS); i++) {
        const before = writes;
        const cpu = process.cpuUsage();
        const start = performance.now();
        if (i === 0) s.start();
        else s.update(watch);
        await s.idle();
        const ms = performance.now() - start;
        const used = process.cpuUsage(cpu);
        rows.push([phase === "restart" ? "after a restart" : i === 0 ? "first sweep" : `no-change sweep ${i}`, ms.toFixed(0), ((used.user + used.system) / 1000).toFixed(0), ((ms * 1000) / N).toFixed(1), String(writes - before)]);
      }
      await s.stop();
      await runner.stop();
      await store.close();
    }
    const header = ["sweep", "wall ms", "cpu ms", "µs/cert", "plan writes"];
    const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [header, ...rows]) console.log(r.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
