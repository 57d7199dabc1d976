/**
 * @module The cert list and one cert's view in this process (issue 11): N certs, each with a
 * stored certificate, an install record and one finished renewal, swept once by the real
 * Scheduler on the real SQLite store, then the routes asked through the API app
 * (`app.request`, no socket) and their parts timed apart: the two bulk store reads, the
 * views built as objects and serialized (what a page costs per cert), and the whole list
 * from its cached rows: asked again unchanged, right after a sweep (a new next tick), an
 * hour on (the default interval: a new next tick and every `days_left` moved), and right
 * after a sweep and a store write (one cert's state: the store is read again). Wall and CPU time per call, median and best of 15 (after 3 not
 * counted); CPU is the steadier figure on a shared machine. A report, not a test.
 *
 * Usage: bun bench/list.ts [--certs 10000]
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createConsola } from "consola";
import { createApi } from "../src/api/app.ts";
import { CertRows } from "../src/api/cert-rows.ts";
import { ListReads } from "../src/api/list-reads.ts";
import type { ApiDeps } from "../src/api/ports.ts";
import { certListJson, viewsNow } from "../src/api/views.ts";
import type { InstallBackend } from "../src/backends/types.ts";
import { systemClock } from "../src/clock.ts";
import type { CertConfig } from "../src/config/schema.ts";
import { actions, certSource } from "../src/daemon/api-ports.ts";
import { EventBus } from "../src/events.ts";
import { ChallengeJournal } from "../src/pipeline/journal.ts";
import type { CertRuntime, Watchlist } from "../src/pipeline/runtime.ts";
import { singleNode } from "../src/scheduler/leadership.ts";
import { Runner } from "../src/scheduler/runner.ts";
import { Scheduler } from "../src/scheduler/scheduler.ts";
import { SqliteAuditStore } from "../src/store/sqlite.ts";
import { testConfig } from "../src/testing/config.ts";

const { values } = parseArgs({ options: { certs: { type: "string", default: "10000" } } });
const N = Number(values.certs);
const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

/** One 90-day certificate made by openssl: every cert stores the same leaf under its own id. */
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

interface Timing {
  label: string;
  wall: number[];
  cpu: number[];
}

async function time(label: string, f: () => Promise<unknown>, runs = 15): Promise<Timing> {
  for (let i = 0; i < 3; i++) await f();
  const t: Timing = { label, wall: [], cpu: [] };
  for (let i = 0; i < runs; i++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    await f();
    t.wall.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    t.cpu.push((used.user + used.system) / 1000);
  }
  return t;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "rota-bench-list-"));
  const store = new SqliteAuditStore(join(dir, "rota.db"));
  try {
    const leaf = leafPem(dir);
    const x = new X509Certificate(leaf);
    const serial = x.serialNumber.toLowerCase();
    const certs: CertRuntime[] = [];
    for (let i = 0; i < N; i++) {
      const id = `c${String(i).padStart(5, "0")}`;
      const at = new Date();
      await store.openRenewal({ id: `r-${i}`, certId: id, trigger: "scheduled", installOnly: false, reason: null, startedAt: at });
      await store.closeRenewal(`r-${i}`, "succeeded", at, null);
      await store.saveIssued({ certId: id, renewalId: `r-${i}`, leafPem: leaf, chainPem: leaf, serial, notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo), issuedAt: at });
      await store.saveInstalled({ certId: id, target: "files", serial, installedAt: at });
      const config: CertConfig = { id, domains: [`${id}.bench.example`], ca: "internal", dcv: undefined, install: ["files"], keyPath: join(dir, `${id}.key`), keyType: "ecdsa-p256", renewThresholdDays: undefined, keyRotation: "never" };
      certs.push({ config, ca: undefined as never, dcv: undefined, installs: [files] });
    }
    const watch: Watchlist = { config: testConfig(dir, certs.map((c) => c.config), { checkIntervalSeconds: 7 * 86_400 }), certs, dcvs: new Map() };
    const bus = new EventBus(() => {});
    const runner = new Runner(
      { store, bus, clock: systemClock, log: silent },
      { execute: async () => ({ ok: false, error: new Error("bench: nothing renews"), interrupted: false }), policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 4, timeoutSeconds: 1800 },
    );
    const scheduler = new Scheduler({ runner, store, bus, clock: systemClock, leadership: singleNode, journal: new ChallengeJournal(dir), log: silent }, watch);
    scheduler.start();
    await scheduler.idle();
    const deps: ApiDeps = {
      version: "bench",
      configFile: join(dir, "rota.toml"),
      startedAt: new Date(),
      certs: certSource(scheduler, runner),
      actions: actions(scheduler, runner, async () => ({ ok: false, file: "", problems: [] })),
      alerts: { sinkNames: () => [], test: async () => [] },
      daemon: { settings: () => ({ socket: "", stateDir: dir, audit: { backend: "sqlite", path: "", retentionDays: 90 }, maxConcurrentRenewals: 4 }), renewals: () => ({ running: 0, queued: 0 }), listener: () => null },
      store,
      bus,
      clock: systemClock,
      log: silent,
    };
    const app = createApi(deps);
    const ids = certs.map((c) => c.config.id);
    const one = `/api/certs/${ids[Math.floor(N / 2)]}`;
    const body = await (await app.request("/api/certs")).text();
    // A sweep between two requests: every cert's next_check moves (a new next tick at each call).
    const afterTick: ApiDeps = { ...deps, certs: { ...deps.certs, nextTickAt: () => new Date(Date.now() + 7 * 86_400_000) } };
    const tickRows = new CertRows();
    const tickReads = new ListReads();
    await certListJson(afterTick, tickRows, tickReads);
    // The default interval: an hour passes between two requests (days_left moves too), a sweep in between.
    let hours = 0;
    const hourOn = (): ApiDeps => {
      const at = Date.now() + ++hours * 3_600_000;
      return { ...deps, clock: { ...systemClock, now: () => new Date(at) }, certs: { ...deps.certs, nextTickAt: () => new Date(at + 1_800_000) } };
    };
    const hourRows = new CertRows();
    const hourReads = new ListReads();
    await certListJson(hourOn(), hourRows, hourReads);
    // A renewal's end between two requests: one cert's state written, so the store is read again.
    const writtenRows = new CertRows();
    const writtenReads = new ListReads();
    let failures = 0;
    const written = async () => {
      await store.putCertState({ certId: ids[0]!, consecutiveFailures: ++failures % 2, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
      return certListJson(afterTick, writtenRows, writtenReads);
    };
    await written();
    const timings = [
      await time("store.latestRenewals (every cert)", () => store.latestRenewals(ids)),
      await time("store.certStates (every cert)", () => store.certStates(ids)),
      await time("views as objects (viewsNow)", () => viewsNow(deps, certs)),
      await time("views as objects + JSON.stringify", async () => JSON.stringify(await viewsNow(deps, certs))),
      await time("the list from cached rows (certListJson)", () => certListJson(deps, new CertRows(), new ListReads())),
      await time("the list right after a tick (rows cached)", () => certListJson(afterTick, tickRows, tickReads)),
      await time("the list an hour on, after a tick (rows cached)", () => certListJson(hourOn(), hourRows, hourReads)),
      await time("the list after a tick and a store write", written),
      await time("GET /api/certs", async () => (await app.request("/api/certs")).text()),
      await time(`GET /api/certs/:id`, async () => (await app.request(one)).text()),
      await time("GET /healthz", async () => (await app.request("/healthz")).text()),
    ];
    // The caches made anew at every call above: what the first list costs.
    timings[4]!.label = "the list, every row rebuilt (new caches)";
    await scheduler.stop();
    await runner.stop();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const best = (xs: number[]) => Math.min(...xs);
    const rows = timings.map((t) => [t.label, median(t.wall).toFixed(2), best(t.wall).toFixed(2), median(t.cpu).toFixed(2), best(t.cpu).toFixed(2)]);
    const header = ["in-process, " + N.toLocaleString("en") + " certs", "wall p50 ms", "wall best", "cpu p50 ms", "cpu best"];
    const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [header, ...rows]) console.log(r.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  "));
    console.log(`\nthe list: ${(body.length / 2 ** 20).toFixed(1)} MiB of JSON`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
