/**
 * @module InstallSyncTask with the real Scheduler, Runner, SQLite store and pipeline on a
 * follower: the certificate another node stored reaches this node's files through an
 * install-only `sync` run, and the scheduler's look (what `rota list` shows) follows.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import type { CertConfig } from "../config/schema.ts";
import { summarizeCert } from "../crypto/summary.ts";
import { EventBus, type RotaEvent } from "../events.ts";
import type { ExecuteRequest } from "../pipeline/execute.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import { runRenewal } from "../pipeline/renewer.ts";
import type { CertRuntime } from "../pipeline/runtime.ts";
import type { Leadership } from "../scheduler/leadership.ts";
import { Runner } from "../scheduler/runner.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { testConfig } from "../testing/config.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { InstallSyncTask } from "./install-sync.ts";

const silent = createConsola({ level: Number.NEGATIVE_INFINITY });
const follower: Leadership = { isLeader: () => false, fence: () => null, leader: () => null };

let dir: string;
let clock: FakeClock;
let store: SqliteAuditStore;
let bus: EventBus;
let events: RotaEvent[];
let runner: Runner;
let scheduler: Scheduler;
let task: InstallSyncTask;

/** The cert as a node configures it, installing into `<dir>/<installDir>`; every node holds the same key. */
function runtime(installDir: string): CertRuntime {
  const config: CertConfig = {
    id: "www",
    domains: ["www.example.com"],
    ca: "internal",
    dcv: undefined,
    install: ["files"],
    keyPath: join(dir, "keys", "www.key"),
    keyType: "ecdsa-p256",
    renewThresholdDays: undefined,
    keyRotation: "never",
  };
  return {
    config,
    ca: createLocalCa("internal", { validityDays: 90, commonName: undefined }, { stateDir: dir, clock }),
    dcv: undefined,
    installs: [createFilesystemInstall("files", { dir: join(dir, installDir), uid: undefined, gid: undefined })],
  };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-install-sync-"));
  clock = new FakeClock();
  store = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus((err) => {
    throw err;
  });
  subscribeAudit(bus, store);
  events = [];
  bus.subscribe((e) => void events.push(e));
});

afterEach(async () => {
  await task.stop();
  await scheduler.stop();
  await runner.stop();
  await bus.drain();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a follower installs the leader's stored certificate through a sync run, and its look shows it", async () => {
  const journal = new ChallengeJournal(dir);
  const runnerOf = (cert: CertRuntime) => {
    const execute = (req: ExecuteRequest) => runRenewal(cert, req, { store, bus, clock, journal });
    return new Runner({ store, bus, clock, log: silent }, { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 2, timeoutSeconds: 1800 });
  };
  // The leader's renewal: ordered, stored, installed in the leader's own folder.
  const theirs = runtime("leader");
  const leader = await runnerOf(theirs).start(theirs, "manual")!.done;
  if (!leader.ok) throw leader.error;
  const serial = leader.issued.serial;

  const mine = runtime("installed");
  runner = runnerOf(mine);
  const watch = { config: testConfig(dir, [mine.config]), certs: [mine], dcvs: new Map() };
  scheduler = new Scheduler({ runner, store, bus, clock, leadership: follower, journal, log: silent }, watch);
  task = new InstallSyncTask({ scheduler, runner, store, bus, clock, log: silent, nodeId: "nas-2", syncIntervalSeconds: 60, checkSeconds: 10 });
  scheduler.start();
  task.start();
  // The first pass starts the run; its end asks for the look that finds it in sync.
  for (let i = 0; i < 5 && task.certs()[0]?.state !== "in_sync"; i++) {
    await task.idle();
    await runner.current("www")?.done;
  }

  const started = events.filter((e) => e.type === "renewal.started");
  expect(started.map((e) => e.type === "renewal.started" && [e.trigger, e.installOnly, e.reason])).toEqual([
    ["manual", false, null],
    ["sync", true, `files does not serve the newest certificate (serial ${serial})`],
  ]);
  expect(summarizeCert(readFileSync(join(dir, "installed", "www", "cert.pem"), "utf8")).serial).toBe(serial);
  // Nothing ordered on the follower: the one issued certificate is the leader's.
  expect((await store.listRenewals({ certId: "www", limit: 10 })).map((r) => [r.trigger, r.status, r.events.some((s) => s.step === "submit")])).toEqual([
    ["sync", "succeeded", false],
    ["manual", "succeeded", true],
  ]);
  expect(task.certs()).toEqual([{ id: "www", stored_serial: serial, installed_serial: serial, state: "in_sync", error: null, checked_at: clock.now().toISOString() }]);
  expect(scheduler.look("www")).toMatchObject({ latestSerial: serial, targets: [{ target: "files", installed: { serial } }] });
});
