/**
 * @module readTarget: the three answers, a target without read-back taken at the store's
 * word, and the bounds (timeout, stop) that hold even when a backend ignores its signal;
 * then the scheduler's look at a cert whose target hangs, and a stop() that does not wait for it.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import type { InstallBackend, ReadableInstall, ReadBack } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import { testConfig } from "../testing/config.ts";
import { FakeClock, clockReading, settle } from "../testing/fake-clock.ts";
import { EventBus } from "../events.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import type { CertRuntime } from "../pipeline/runtime.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import type { IssuedCert } from "../store/types.ts";
import { x509 } from "../crypto/x509.ts";
import { singleNode } from "./leadership.ts";
import { readTarget, type Served } from "./read-back.ts";
import { Runner } from "./runner.ts";
import { Scheduler } from "./scheduler.ts";

const now = new Date("2030-01-01T00:00:00Z");
const clock: Clock = clockReading(() => now);
const silent = createConsola({ level: Number.NEGATIVE_INFINITY });
const never = new AbortController().signal;

let dir: string;
let store: SqliteAuditStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-readback-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A target that answers `answer`, or never answers and ignores its signal when `answer` is undefined. */
function target(name: string, answer?: ReadBack): ReadableInstall & { signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  return {
    name,
    signals,
    async install() {},
    readBack(_certId, signal) {
      signals.push(signal);
      return answer ? Promise.resolve(answer) : new Promise(() => {});
    },
  };
}

const writeOnly: InstallBackend = { name: "nas", async install() {} };

/** A self-signed leaf with this serial, as the store's summary columns are parsed from it. */
async function leafWith(serialHex: string): Promise<string> {
  const x = await x509();
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x.X509CertificateGenerator.createSelfSigned({ serialNumber: serialHex, name: "CN=www.example.com", notBefore: now, notAfter: new Date(now.getTime() + 90 * 86_400_000), keys, signingAlgorithm: alg });
  return cert.toString("pem");
}

const issued = (serial: string): IssuedCert => ({
  certId: "www",
  renewalId: `r-${serial}`,
  leafPem: `leaf ${serial}`,
  chainPem: "chain",
  serial,
  notBefore: now,
  notAfter: new Date(now.getTime() + 90 * 86_400_000),
  issuedAt: now,
});

describe("readTarget", () => {
  test("a target that reads back: its own answer, with a signal", async () => {
    for (const answer of [{ state: "absent" }, { state: "damaged", reason: "privkey.pem is missing" }, { state: "present", leafPem: "leaf" }] as ReadBack[]) {
      const t = target("files", answer);
      expect(await readTarget(t, "www", store, never, clock)).toEqual(answer);
      expect(t.signals[0]!.aborted).toBe(false);
    }
  });

  test("a target that cannot read back serves what was last installed there successfully, as stored; absent when nothing was", async () => {
    expect(await readTarget(writeOnly, "www", store, never, clock)).toEqual({ state: "absent" });
    await store.saveIssued({ ...issued("0a"), leafPem: await leafWith("0a") });
    await store.saveIssued({ ...issued("0b"), leafPem: await leafWith("0b") });
    await store.saveInstalled({ certId: "www", target: "nas", serial: "0a", installedAt: now });
    const served: Served = { state: "recorded", installed: { serial: "0a", notBefore: now, notAfter: issued("0a").notAfter, keyType: "ecdsa-p256", names: [] } };
    expect(await readTarget(writeOnly, "www", store, never, clock)).toEqual(served);
    await store.saveInstalled({ certId: "www", target: "other", serial: "0b", installedAt: now });
    expect(await readTarget(writeOnly, "www", store, never, clock)).toEqual(served);
  });

  test("a recorded certificate that cannot be parsed is served, with no summary (the target then counts as damaged)", async () => {
    await store.saveIssued(issued("0a"));
    await store.saveInstalled({ certId: "www", target: "nas", serial: "0a", installedAt: now });
    expect(await readTarget(writeOnly, "www", store, never, clock)).toEqual({ state: "recorded", installed: null });
  });

  test("a target that never answers: timed out, its signal aborted, even if it ignores it", async () => {
    const t = target("files");
    const err = await readTarget(t, "www", store, never, clock, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "read_back_timeout", message: "files: read-back timed out after 0.05 s" });
    expect(t.signals[0]!.aborted).toBe(true);
  });

  test("the stop signal cancels a read-back in flight, and one not yet started", async () => {
    const stop = new AbortController();
    const t = target("files");
    const pending = readTarget(t, "www", store, stop.signal, clock).catch((e: unknown) => e);
    stop.abort(new Error("scheduler stopping"));
    expect(await pending).toMatchObject({ code: "aborted", message: "files: read-back cancelled" });
    expect(t.signals[0]!.aborted).toBe(true);
    expect(await readTarget(target("files"), "www", store, stop.signal, clock).catch((e: unknown) => e)).toMatchObject({ code: "aborted" });
  });
});

describe("the scheduler's look through a hanging target", () => {

  test("stop() ends the tick stuck on it; the look records the error and decides nothing", async () => {
    const bus = new EventBus(() => {});
    const hanging = target("files");
    const cert = {
      config: { id: "www", domains: ["www.example.com"], ca: "internal", dcv: undefined, install: ["files"], keyPath: join(dir, "www.key"), keyType: "ecdsa-p256", renewThresholdDays: undefined },
      installs: [hanging],
    } as unknown as CertRuntime;
    const execute = async () => ({ ok: false as const, error: new Error("must not run"), interrupted: false });
    const runner = new Runner({ store, bus, clock, log: silent }, { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800 });
    const journal = new ChallengeJournal(dir);
    const config = testConfig(dir, [cert.config], { maxConcurrentRenewals: 1 });
    const scheduler = new Scheduler({ runner, store, bus, clock, leadership: singleNode, journal, log: silent }, { config, certs: [cert], dcvs: new Map() });

    scheduler.start();
    while (hanging.signals.length === 0) await Bun.sleep(1);
    await scheduler.stop();
    expect(scheduler.look("www")).toEqual({
      decision: null,
      threshold: null, ari: null,
      error: "files: read-back cancelled: scheduler stopping",
      targets: [{ target: "files", installed: null, error: "files: read-back cancelled: scheduler stopping" }],
      dueSince: now,
      latestSerial: null,
    });
    expect(runner.activeRenewalIds().size).toBe(0);
  });
});

test("a read-back hung past its timeout is not stacked on: the next look fails at once until it returns", async () => {
  const fake = new FakeClock(now);
  let release = () => {};
  let calls = 0;
  const target: ReadableInstall = {
    name: "nfs",
    async install() {},
    readBack: () => {
      // The first call hangs until released; later ones answer at once.
      if (++calls > 1) return Promise.resolve({ state: "absent" });
      return new Promise<ReadBack>((resolve) => (release = () => resolve({ state: "absent" })));
    },
  };
  const first = readTarget(target, "www", store, never, fake, { timeoutMs: 1000 }).catch((e: unknown) => e);
  await fake.advance(1000);
  expect(await first).toMatchObject({ code: "read_back_timeout", message: "nfs: read-back timed out after 1 s" });
  expect(await readTarget(target, "www", store, never, fake, { timeoutMs: 1000 }).catch((e: unknown) => e)).toMatchObject({
    code: "read_back_timeout",
    message: `nfs: read-back hanging since ${now.toISOString()}; not starting another until it returns`,
  });
  expect(calls).toBe(1);
  release();
  await settle();
  expect(await readTarget(target, "www", store, never, fake, { timeoutMs: 1000 })).toEqual({ state: "absent" });
  expect(calls).toBe(2);
});

test("a quick read-back that overlaps a hung one does not hide it: the earliest start still counts", async () => {
  const fake = new FakeClock(now);
  let calls = 0;
  const target: ReadableInstall = {
    name: "nfs",
    async install() {},
    // The first call hangs for good; later ones answer at once.
    readBack: () => (++calls > 1 ? Promise.resolve({ state: "absent" }) : new Promise<ReadBack>(() => {})),
  };
  const first = readTarget(target, "www", store, never, fake, { timeoutMs: 1000 }).catch((e: unknown) => e);
  await fake.advance(500);
  expect(await readTarget(target, "www", store, never, fake, { timeoutMs: 1000 })).toEqual({ state: "absent" });
  await fake.advance(500);
  expect(await first).toMatchObject({ code: "read_back_timeout" });
  expect(await readTarget(target, "www", store, never, fake, { timeoutMs: 1000 }).catch((e: unknown) => e)).toMatchObject({
    code: "read_back_timeout",
    message: `nfs: read-back hanging since ${now.toISOString()}; not starting another until it returns`,
  });
  expect(calls).toBe(2);
});
