/**
 * @module The scheduler with a `verify_served` target (ProbedInstall): an endpoint serving an
 * older certificate than the target's files gets an install-only run at the next tick, with the
 * endpoint in its reason; an endpoint that cannot be asked is said without holding the cert back.
 * The endpoint is a stub here (the TLS side is verified.test.ts's).
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import type { ProbedInstall, ReadableInstall } from "../backends/types.ts";
import type { CertConfig } from "../config/schema.ts";
import { summarizeCert } from "../crypto/summary.ts";
import { EventBus } from "../events.ts";
import type { ExecuteRequest } from "../pipeline/execute.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import { runRenewal } from "../pipeline/renewer.ts";
import type { CertRuntime } from "../pipeline/runtime.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { testConfig } from "../testing/config.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { singleNode } from "./leadership.ts";
import { Runner } from "./runner.ts";
import { Scheduler } from "./scheduler.ts";

const silent = createConsola({ level: Number.NEGATIVE_INFINITY });
const ENDPOINT = "127.0.0.1:8443";

let dir: string;
let clock: FakeClock;
let store: SqliteAuditStore;
let bus: EventBus;
let runner: Runner;
let scheduler: Scheduler;
/** What the stub endpoint serves: the leaf installed at its last "reload", or why it cannot be asked. */
let served: { leafPem: string } | { error: string } = { error: "connect ECONNREFUSED" };
let reloads = true;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-served-"));
  clock = new FakeClock();
  store = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus((err) => {
    throw err;
  });
  subscribeAudit(bus, store);
  reloads = true;
  served = { error: "connect ECONNREFUSED" };
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
  const files: ReadableInstall = createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined });
  const target: ProbedInstall & ReadableInstall = {
    name: "files",
    install: async (req, signal) => {
      await files.install(req, signal);
      if (reloads) served = { leafPem: req.leafPem };
    },
    readBack: files.readBack,
    probeServed: async () => [{ endpoint: ENDPOINT, serverName: "www.example.com", ...served }],
  };
  const runtime: CertRuntime = { config, ca: createLocalCa("internal", { validityDays: 90, commonName: undefined }, { stateDir: dir, clock }), dcv: undefined, installs: [target] };
  const journal = new ChallengeJournal(dir);
  const execute = (req: ExecuteRequest) => runRenewal(runtime, req, { store, bus, clock, journal });
  runner = new Runner({ store, bus, clock, log: silent }, { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 2, timeoutSeconds: 1800 });
  scheduler = new Scheduler({ runner, store, bus, clock, leadership: singleNode, journal, log: silent }, { config: testConfig(dir, [config]), certs: [runtime], dcvs: new Map() });
});

afterEach(async () => {
  await scheduler.stop();
  await runner.stop();
  await bus.drain();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function quiet(): Promise<void> {
  for (let i = 0; i < 20 && (runner.busy("www") || i === 0); i++) {
    await scheduler.idle();
    await runner.current("www")?.done;
  }
  await scheduler.idle();
  await bus.drain();
}

test("an endpoint still serving the previous certificate gets an install-only run at the next tick, the endpoint in its reason", async () => {
  scheduler.start();
  await quiet();
  const first = (await store.latestIssued("www"))!.serial;
  expect(scheduler.look("www")?.decision?.action).toBe("none");

  // A renewal whose install lands in the files, but the server is not reloaded.
  reloads = false;
  expect(await scheduler.request(scheduler.watched().certs[0]!, { force: true })).toMatchObject({ status: "started", installOnly: false });
  await quiet();
  const second = (await store.latestIssued("www"))!.serial;
  expect(second).not.toBe(first);
  const look = scheduler.look("www")!;
  expect(look.targets).toEqual([expect.objectContaining({ target: "files", servedAt: ENDPOINT, installed: expect.objectContaining({ serial: first }) })]);
  const reason = `files (${ENDPOINT} serves ${first}) does not serve the newest certificate (serial ${second})`;
  expect(look.decision).toMatchObject({ action: "install", targets: ["files"], reason });
  expect(look.latestSerial).toBe(second);

  reloads = true;
  await clock.advance(3600_000);
  await quiet();
  const [last] = await store.listRenewals({ certId: "www", limit: 1 });
  expect(last).toMatchObject({ status: "succeeded", installOnly: true, reason, trigger: "scheduled" });
  expect("leafPem" in served && summarizeCert(served.leafPem).serial).toBe(second);
  expect(scheduler.look("www")?.decision?.action).toBe("none");
});

test("an endpoint that cannot be asked is said at the look, and the cert is still decided on its files", async () => {
  reloads = false;
  scheduler.start();
  await quiet();
  const look = scheduler.look("www")!;
  expect(look.error).toBeNull();
  expect(look.decision?.action).toBe("none");
  expect(look.targets).toEqual([expect.objectContaining({ target: "files", unverified: `${ENDPOINT}: connect ECONNREFUSED` })]);
  expect(look.targets[0]!.installed?.serial).toBe((await store.latestIssued("www"))!.serial);
});
