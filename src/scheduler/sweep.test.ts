/**
 * @module The sweep at scale: each target's leaf parsed once while its stamp holds (no cap
 * on how many are kept), parsed again when the file changes, and a tick over many certs
 * that lets the event loop in between them.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import type { ReadableInstall } from "../backends/types.ts";
import { summarizeCert, type CertSummary } from "../crypto/summary.ts";
import type { EventBus } from "../events.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import type { CertRuntime, Watchlist } from "../pipeline/runtime.ts";
import type { SqliteAuditStore } from "../store/sqlite.ts";
import { testConfig } from "../testing/config.ts";
import type { FakeClock } from "../testing/fake-clock.ts";
import { pipelineWorld, silent, type PipelineWorld } from "../testing/pipeline-world.ts";
import { singleNode } from "./leadership.ts";
import type { Runner } from "./runner.ts";
import { Scheduler } from "./scheduler.ts";

const INTERVAL_S = 3600;

let world: PipelineWorld;
let dir: string;
let clock: FakeClock;
let store: SqliteAuditStore;
let bus: EventBus;
let runner: Runner;
let scheduler: Scheduler | undefined;

beforeEach(() => {
  world = pipelineWorld("rota-sweep-");
  ({ dir, clock, store, bus, runner } = world);
});

afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
  await world.close();
});

function cert(id: string, installs?: CertRuntime["installs"]): CertRuntime {
  return world.cert(id, installs);
}

function newScheduler(certs: CertRuntime[], summarize: (pem: string) => CertSummary): Scheduler {
  const watch: Watchlist = { config: testConfig(dir, certs.map((c) => c.config), { checkIntervalSeconds: INTERVAL_S }), certs, dcvs: new Map() };
  scheduler = new Scheduler({ runner, store, bus, clock, leadership: singleNode, journal: new ChallengeJournal(dir), log: silent, summarize }, watch);
  return scheduler;
}

test("an unchanged certificate is parsed once across 100 ticks; a rewritten file is parsed again", async () => {
  const parsed: string[] = [];
  const counting = (pem: string) => {
    parsed.push(pem);
    return summarizeCert(pem);
  };
  const www = cert("www");
  const s = newScheduler([www], counting);
  s.start();
  await s.idle();
  await runner.current("www")?.done;
  await s.idle();
  expect(s.look("www")?.decision?.action).toBe("none");
  const afterIssuance = parsed.length;
  expect(afterIssuance).toBe(1);

  for (let tick = 0; tick < 100; tick++) {
    await clock.advance(INTERVAL_S * 1000);
    await s.idle();
  }
  expect(s.look("www")?.decision?.action).toBe("none");
  expect(parsed.length).toBe(afterIssuance);

  // The same bytes written again: a new file identity, so the leaf is read and parsed again, once.
  const certPem = join(dir, "installed", "www", "cert.pem");
  writeFileSync(certPem, readFileSync(certPem));
  await clock.advance(INTERVAL_S * 1000);
  await s.idle();
  await clock.advance(INTERVAL_S * 1000);
  await s.idle();
  expect(parsed.length).toBe(afterIssuance + 1);
  expect(s.look("www")?.decision?.action).toBe("none");
});

test("a tick over many certs lets the event loop in between them", async () => {
  const leaf = { serial: "0a", notBefore: clock.now(), notAfter: new Date(clock.now().getTime() + 80 * 86_400_000), keyType: "ecdsa-p256" as const, names: [] };
  // A target that answers without I/O: nothing but the sweep itself yields.
  const instant: ReadableInstall = { name: "files", install: async () => {}, readBack: async (id) => ({ state: "present", leafPem: `${id}.example.com`, stamp: "1" }) };
  const certs = Array.from({ length: 200 }, (_, i) => cert(`c${i}`, [instant]));
  // Each parse takes a millisecond: 200 of them hold the loop for far longer than one slice. The "PEM" is the cert's name, so nothing is due.
  const slow = (pem: string) => {
    const until = performance.now() + 1;
    while (performance.now() < until);
    return { ...leaf, names: [pem] };
  };
  const s = newScheduler(certs, slow);
  let turns = 0;
  let ticking = true;
  const probe = () => {
    turns++;
    if (ticking) setImmediate(probe);
  };
  setImmediate(probe);
  s.start();
  await s.idle();
  ticking = false;
  expect(certs.every((c) => s.look(c.config.id)?.decision?.action === "none")).toBe(true);
  // 200 ms of parsing in slices of under 10 ms: the loop came round at least a dozen times.
  expect(turns).toBeGreaterThan(12);
});

test("each read carries the stamp of the leaf kept for the target; unchanged for a leaf not kept leaves the cert alone that look", async () => {
  const files = createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined }) as ReadableInstall;
  const asked: (string | undefined)[] = [];
  let lie = false;
  const target: ReadableInstall = {
    name: "files",
    install: files.install,
    readBack: async (id, signal, opts) => {
      asked.push(opts?.known);
      return lie ? { state: "unchanged", stamp: "a stamp never given" } : files.readBack(id, signal, opts);
    },
  };
  const s = newScheduler([cert("www", [target])], summarizeCert);
  s.start();
  await s.idle();
  await runner.current("www")?.done;
  await s.idle();
  const look = s.look("www")!;
  expect(look.decision?.action).toBe("none");

  asked.length = 0;
  await clock.advance(INTERVAL_S * 1000);
  await s.idle();
  expect(asked).toEqual([expect.any(String)]);
  expect(s.look("www")?.decision?.action).toBe("none");

  lie = true;
  await clock.advance(INTERVAL_S * 1000);
  await s.idle();
  expect(s.look("www")).toMatchObject({ decision: null, error: "files: answered unchanged for a leaf not kept here" });
  expect(runner.current("www")).toBeUndefined();
});
