/**
 * @module Sweeps that pass by a cert nothing changed for: on a filesystem target with change
 * hints (a real folder watch), an unchanged cert costs a sweep no read-back and no store read;
 * a change on disk, a reload that touches it, a renewal and the targets' backstop read each
 * have it looked at again. A target without hints is read at every sweep, as before.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import type { HintedInstall, ReadableInstall } from "../backends/types.ts";
import type { CertConfig } from "../config/schema.ts";
import type { EventBus } from "../events.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import type { CertRuntime, Watchlist } from "../pipeline/runtime.ts";
import type { SqliteAuditStore } from "../store/sqlite.ts";
import type { AuditStore } from "../store/types.ts";
import { testConfig } from "../testing/config.ts";
import type { FakeClock } from "../testing/fake-clock.ts";
import { pipelineWorld, silent, type PipelineWorld } from "../testing/pipeline-world.ts";
import { singleNode } from "./leadership.ts";
import type { Runner } from "./runner.ts";
import { Scheduler } from "./scheduler.ts";

const INTERVAL_S = 10;

let world: PipelineWorld;
let dir: string;
let clock: FakeClock;
let store: SqliteAuditStore;
let bus: EventBus;
let runner: Runner;
let scheduler: Scheduler | undefined;
/** Store calls made by the scheduler, by method. */
let storeCalls: string[];
/** Read-backs asked of the targets, by cert id. */
let reads: string[];

beforeEach(() => {
  world = pipelineWorld("rota-settled-");
  ({ dir, clock, store, bus, runner } = world);
  storeCalls = [];
  reads = [];
});

afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
  await world.close();
});

/** The store as the scheduler sees it, each call counted. */
function countingStore(): AuditStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        storeCalls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** The filesystem target, its read-backs counted; its change hints kept unless `hints` is false. */
function filesTarget(hints = true): ReadableInstall {
  const files: HintedInstall = createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined }, { clock });
  const readBack: ReadableInstall["readBack"] = (id, signal, opts) => {
    reads.push(id);
    return files.readBack(id, signal, opts);
  };
  return hints ? { ...files, readBack } : { name: files.name, install: files.install, readBack };
}

function cert(id: string, installs: CertRuntime["installs"], overrides: Partial<CertConfig> = {}): CertRuntime {
  return world.cert(id, installs, overrides);
}

function watchOf(certs: CertRuntime[]): Watchlist {
  return { config: testConfig(dir, certs.map((c) => c.config), { checkIntervalSeconds: INTERVAL_S }), certs, dcvs: new Map() };
}

async function sweep(times = 1): Promise<void> {
  for (let i = 0; i < times; i++) {
    await clock.advance(INTERVAL_S * 1000);
    await scheduler!.idle();
  }
}

/** Starts the scheduler over `certs`, lets each be issued and installed, and sweeps until each is settled (a sweep reads nothing). */
async function issuedAndSettled(certs: CertRuntime[]): Promise<Scheduler> {
  scheduler = new Scheduler({ runner, store: countingStore(), bus, clock, leadership: singleNode, journal: new ChallengeJournal(dir), log: silent }, watchOf(certs));
  scheduler.start();
  await scheduler.idle();
  for (const c of certs) await runner.current(c.config.id)?.done;
  await scheduler.idle();
  for (let i = 0; i < 5 && !(await quiet()); i++);
  return scheduler;
}

/** One sweep; whether it read nothing. */
async function quiet(): Promise<boolean> {
  reads.length = 0;
  storeCalls.length = 0;
  await sweep();
  return reads.length === 0 && storeCalls.length === 0;
}

/** Sweeps past the cert's backstop read when it falls within the next `sweeps`, so they cannot meet it. */
async function clearOfBackstop(target: ReadableInstall, id: string, sweeps: number): Promise<void> {
  const at = (target as HintedInstall).recheckAt(id, clock.now()).getTime();
  if (at - clock.now().getTime() > (sweeps + 1) * INTERVAL_S * 1000) return;
  await clock.advance(at - clock.now().getTime());
  await scheduler!.idle();
  await sweep(2);
}

test("an unchanged cert costs no read-back and no store read across 100 sweeps; a change on disk has it read at the next", async () => {
  const files = filesTarget();
  const s = await issuedAndSettled([cert("www", [files])]);
  expect(s.look("www")?.decision?.action).toBe("none");
  await clearOfBackstop(files, "www", 100);
  reads.length = 0;
  storeCalls.length = 0;
  await sweep(100);
  expect(reads).toEqual([]);
  expect(storeCalls).toEqual([]);
  expect(s.look("www")?.decision?.action).toBe("none");

  // Damaged on disk: the watch names it, the next sweep reads it and puts the stored certificate back.
  rmSync(join(dir, "installed", "www", "privkey.pem"));
  await sweep();
  // The sweep's read, and the look after the install it started.
  expect(reads).toEqual(["www", "www"]);
  expect(readFileSync(join(dir, "installed", "www", "privkey.pem"), "utf8")).toContain("PRIVATE KEY");
  for (let i = 0; i < 5 && !(await quiet()); i++);
  expect(await quiet()).toBe(true);

  // The same bytes written again: a change all the same, read once.
  const certPem = join(dir, "installed", "www", "cert.pem");
  writeFileSync(certPem, readFileSync(certPem));
  reads.length = 0;
  await sweep(3);
  expect(reads).toEqual(["www"]);
  expect(s.look("www")?.decision?.action).toBe("none");
});

test("a reload that touches the cert, a renewal and the backstop read each have it looked at again; a reload that does not, not", async () => {
  const files = filesTarget();
  const www = cert("www", [files]);
  const api = cert("api", [files]);
  const s = await issuedAndSettled([www, api]);
  await clearOfBackstop(files, "www", 3);
  await clearOfBackstop(files, "api", 3);
  expect(await quiet()).toBe(true);

  // A reload: the same config for api, a threshold for www. Only www is looked at, with the threshold.
  const www2 = cert("www", [files], { renewThresholdDays: 30 });
  const api2 = { ...api, config: { ...api.config } };
  s.update(watchOf([www2, api2]));
  await s.idle();
  reads.length = 0;
  await sweep();
  expect(reads).toEqual([]);
  expect(s.look("www")?.threshold).toEqual({ days: 30, source: "cert" });
  expect(await quiet()).toBe(true);

  // A renewal asked for by hand: its end looks at the cert, and the sweep after looks once more, then it settles.
  const serial = s.look("www")!.latestSerial;
  storeCalls.length = 0;
  expect((await s.request(www2, { force: true })).status).toBe("started");
  await runner.current("www")?.done;
  await s.idle();
  // The look at its end reads the stored summary once: its CA gives no ARI advice, so there is no poll to read it for.
  expect(storeCalls.filter((c) => c === "latestIssuedSummaries")).toEqual(["latestIssuedSummaries"]);
  expect(s.look("www")!.latestSerial).not.toBe(serial);
  reads.length = 0;
  await sweep();
  expect(reads).toEqual(["www"]);
  expect(await quiet()).toBe(true);

  // The backstop: at its moment the set is read from the disk, whatever the hints say.
  const at = (files as HintedInstall).recheckAt("api", clock.now()).getTime();
  await clock.advance(at - clock.now().getTime() + INTERVAL_S * 1000);
  await s.idle();
  expect(reads).toContain("api");
});

test("a target without change hints is read at every sweep", async () => {
  const s = await issuedAndSettled([cert("www", [filesTarget(false)])]);
  expect(s.look("www")?.decision?.action).toBe("none");
  reads.length = 0;
  await sweep(3);
  expect(reads).toEqual(["www", "www", "www"]);
});

test("compact() gives each cert looked at since its last call a copy of its look saying the same; settled certs stay settled, and a change is still seen", async () => {
  const files = filesTarget();
  const s = await issuedAndSettled([cert("www", [files]), cert("api", [files])]);
  await clearOfBackstop(files, "www", 3);
  await clearOfBackstop(files, "api", 3);
  const before = { www: s.look("www")!, api: s.look("api")! };
  await s.compact();
  for (const id of ["www", "api"] as const) {
    expect(s.look(id)).not.toBe(before[id]);
    expect(s.look(id)).toEqual(before[id]);
  }
  // Nothing looked at since: nothing copied.
  const copied = s.look("www");
  await s.compact();
  expect(s.look("www")).toBe(copied!);
  expect(await quiet()).toBe(true);
  expect(await quiet()).toBe(true);

  // The copied parse still answers for the set: damaged on disk, read at the next sweep and repaired.
  rmSync(join(dir, "installed", "api", "privkey.pem"));
  await sweep();
  expect(reads).toEqual(["api", "api"]);
  for (let i = 0; i < 5 && !(await quiet()); i++);
  expect(await quiet()).toBe(true);
  expect(s.look("api")?.decision?.action).toBe("none");
});
