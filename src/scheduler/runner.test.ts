/**
 * @module The Runner with a CA that blocks until the test releases it: the concurrency
 * limit (counted, never timed), the persisted failure cooldown, and a clean stop().
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { runDcvContract } from "../backends/dcv/contract.ts";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import { supportsKind, type CABackend, type ChallengeKind, type DcvBackend, type DcvChallenge } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import { FakeClock, clockReading } from "../testing/fake-clock.ts";
import { RotaError, throwIfAborted } from "../errors.ts";
import { EventBus, type RotaEvent } from "../events.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import type { ExecuteRequest } from "../pipeline/execute.ts";
import { runRenewal, type PipelineStore } from "../pipeline/renewer.ts";
import { generateKeyPem } from "../crypto/keys.ts";
import type { Fence } from "../cluster/types.ts";
import type { CertRuntime } from "../pipeline/runtime.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import type { Leadership } from "./leadership.ts";
import { Runner } from "./runner.ts";

/** Holds every awaitIssuance until the test releases it, counting who is inside. */
class Gate {
  inside = 0;
  maxInside = 0;
  entered = 0;
  private readonly held: Array<() => void> = [];
  private readonly watchers: Array<{ n: number; resolve: () => void }> = [];

  async pass(signal: AbortSignal): Promise<void> {
    this.inside++;
    this.maxInside = Math.max(this.maxInside, this.inside);
    this.entered++;
    for (const w of this.watchers.filter((w) => this.entered >= w.n)) w.resolve();
    try {
      await new Promise<void>((resolve, reject) => {
        this.held.push(resolve);
        signal.addEventListener("abort", () => reject(new RotaError("aborted", "fake-ca: cancelled", { cause: signal.reason })), { once: true });
      });
    } finally {
      this.inside--;
    }
  }

  /** Resolves once `n` calls in all have come in. */
  untilEntered(n: number): Promise<void> {
    if (this.entered >= n) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ n, resolve }));
  }

  releaseOne(): void {
    const next = this.held.shift();
    if (!next) throw new Error("nobody is waiting at the gate");
    next();
  }
}

/** The local CA's signing behind an ACME-like face: one http-01 challenge per order, and a gate or a failure. */
function fakeCa(stateDir: string, clock: Clock, behaviour: { gate?: Gate; failWith?: () => Error | undefined }): CABackend {
  const inner = createLocalCa("inner", { validityDays: 90, commonName: undefined }, { stateDir, clock });
  return {
    name: "fake-ca",
    async submit(req, signal) {
      const { order } = await inner.submit(req, signal);
      const challenge: DcvChallenge = { kind: "http-01", domain: req.domains[0]!, token: `tok_${req.certId}`, keyAuthorization: `tok_${req.certId}.thumb` };
      return { order, challenges: [challenge] };
    },
    async awaitIssuance(order, signal) {
      await behaviour.gate?.pass(signal);
      const failure = behaviour.failWith?.();
      if (failure) throw failure;
      return inner.awaitIssuance(order, signal);
    },
  };
}

class RecordingDcv implements DcvBackend {
  readonly name = "fake-dcv";
  readonly live = new Map<string, DcvChallenge>();
  readonly removed: string[] = [];
  supportedKinds(): ChallengeKind[] {
    return ["http-01"];
  }
  supports(ch: DcvChallenge): boolean {
    return supportsKind(this, ch);
  }
  async publish(ch: DcvChallenge, signal: AbortSignal): Promise<void> {
    throwIfAborted(signal, this.name);
    if (ch.kind === "http-01") this.live.set(ch.token, ch);
  }
  async remove(ch: DcvChallenge): Promise<void> {
    if (ch.kind !== "http-01") return;
    this.removed.push(ch.token);
    this.live.delete(ch.token);
  }
}

runDcvContract("runner's fake", () => {
  const dcv = new RecordingDcv();
  return { backend: dcv, lookup: async (ch) => (ch.kind === "http-01" && dcv.live.has(ch.token) ? [ch.keyAuthorization] : []) };
});

const POLICY = { baseSeconds: 900, maxSeconds: 86_400 };
let dir: string;
let store: SqliteAuditStore;
let bus: EventBus;
let journal: ChallengeJournal;
let dcv: RecordingDcv;
let events: RotaEvent[];
let busErrors: unknown[];
let now: Date;
const clock: Clock = clockReading(() => now);
const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-runner-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  busErrors = [];
  bus = new EventBus((err) => busErrors.push(err));
  subscribeAudit(bus, store);
  events = [];
  bus.subscribe((e) => void events.push(e));
  journal = new ChallengeJournal(dir);
  dcv = new RecordingDcv();
  now = new Date("2030-01-01T00:00:00Z");
});
afterEach(async () => {
  await bus.drain();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  expect(busErrors).toEqual([]);
});

/** Certs made by cert(), by id: the in-process executor runs the pipeline on them. */
const runtimes = new Map<string, CertRuntime>();

function newRunner(maxConcurrent: number): Runner {
  const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
  return new Runner({ store, bus, clock, log: silent }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent, timeoutSeconds: 1800 });
}

function cert(id: string, ca: CABackend): CertRuntime {
  const runtime: CertRuntime = {
    config: {
      id,
      domains: [`${id}.example.com`],
      ca: ca.name,
      dcv: dcv.name,
      install: ["files"],
      keyPath: join(dir, "keys", `${id}.key`),
      keyType: "ecdsa-p256",
      keyRotation: "never",
      renewThresholdDays: undefined,
    },
    ca,
    dcv,
    installs: [createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined })],
  };
  runtimes.set(id, runtime);
  return runtime;
}

describe("Runner", () => {
  test("six certs, two at a time: never more than two awaiting issuance, all six finish", async () => {
    const gate = new Gate();
    const ca = fakeCa(dir, clock, { gate });
    const runner = newRunner(2);
    const ids = ["c1", "c2", "c3", "c4", "c5", "c6"];
    const started = ids.map((id) => runner.start(cert(id, ca), "scheduled")!);
    expect(ids.every((id) => runner.busy(id))).toBe(true);
    // A second start of a cert already queued is refused.
    expect(runner.start(cert("c1", ca), "manual")).toBeNull();

    for (let n = 2; n <= ids.length; n++) {
      await gate.untilEntered(n);
      expect(gate.inside).toBe(2);
      expect(runner.running()).toBe(2);
      gate.releaseOne();
    }
    gate.releaseOne();
    const outcomes = await Promise.all(started.map((s) => s.done));

    expect(gate.entered).toBe(6);
    expect(gate.maxInside).toBe(2);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, true, true, true]);
    expect(ids.some((id) => runner.busy(id))).toBe(false);
    expect(runner.running()).toBe(0);
    await bus.drain();
    const rows = await store.listRenewals({ limit: 10 });
    expect(rows.map((r) => r.status)).toEqual(Array(6).fill("succeeded"));
    expect(new Set(rows.map((r) => r.certId))).toEqual(new Set(ids));
    expect(await store.getCertState("c1")).toEqual({ certId: "c1", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
  });

  test("start hands installOnly and newKey to the run as asked", async () => {
    const seen: Array<[boolean | undefined, string[] | undefined]> = [];
    const ca = fakeCa(dir, clock, {});
    const execute = async (req: ExecuteRequest) => {
      seen.push([req.newKey, req.installOnly]);
      return runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
    };
    const runner = new Runner({ store, bus, clock, log: silent }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800 });
    await runner.start(cert("www", ca), "manual", { newKey: true })!.done;
    await runner.start(cert("www", ca), "scheduled", { installOnly: ["files"] })!.done;
    expect(seen).toEqual([
      [true, undefined],
      [undefined, ["files"]],
    ]);
  });

  test("the log says re-installed for an install-only run, renewed when that run had to order a new certificate", async () => {
    const lines: string[] = [];
    const log = createConsola({ level: 3, reporters: [{ log: (o) => lines.push(o.args.join(" ")) }] });
    const ca = fakeCa(dir, clock, {});
    const execute = async (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
    const runner = new Runner({ store, bus, clock, log }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800 });
    await runner.start(cert("www", ca), "manual")!.done;
    await runner.start(cert("www", ca), "scheduled", { installOnly: ["files"] })!.done;
    rmSync(join(dir, "keys", "www.key"));
    await runner.start(cert("www", ca), "scheduled", { installOnly: ["files"] })!.done;
    expect(lines.map((l) => l.replace(/, serial .*/, ""))).toEqual(["www: renewed", "www: re-installed", "www: renewed"]);
  });

  test("failures back off 900, 1800, 3600 s from the failure, persisted; a success resets", async () => {
    const runner = newRunner(2);
    let fail = true;
    const failing = cert("www", fakeCa(dir, clock, { failWith: () => (fail ? new RotaError("ca_error", "fake-ca: boom") : undefined) }));
    const base = now.getTime();

    for (const [n, wait] of [
      [1, 900],
      [2, 1_800],
      [3, 3_600],
    ] as const) {
      now = new Date(base + n * 10_000_000);
      const outcome = await runner.start(failing, "scheduled")!.done;
      expect(outcome.ok).toBe(false);
      const retryAt = new Date(now.getTime() + wait * 1000);
      expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: n, retryAt, lastError: "fake-ca: boom", authzFailures: 0, haltedAt: null });
      expect(events.at(-1)).toMatchObject({ type: "renewal.failed", certId: "www", interrupted: false, retryAt, error: "fake-ca: boom" });
    }
    await bus.drain();
    expect((await store.listRenewals({ certId: "www", limit: 10 })).map((r) => [r.status, r.error])).toEqual(Array(3).fill(["failed", "fake-ca: boom"]));
    // The remove step ran after every failed issuance.
    expect(dcv.removed).toEqual(["tok_www", "tok_www", "tok_www"]);

    fail = false;
    expect((await runner.start(failing, "manual")!.done).ok).toBe(true);
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
  });

  test("a worker that refuses because rota was replaced under the daemon: the renewal fails, the cert's failure state stays as it was", async () => {
    const replaced = new RotaError("binary_replaced", "rota was replaced while the daemon runs (daemon 0.1.0 aaaaaaaaaaaa, binary 0.1.0 bbbbbbbbbbbb): restart the daemon");
    const lines: string[] = [];
    const log = createConsola({ level: 5, reporters: [{ log: (o) => void lines.push(`${o.type} ${o.args.join(" ")}`) }] });
    const runner = new Runner({ store, bus, clock, log }, { execute: async () => ({ ok: false, error: replaced, interrupted: false }), policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800 });
    const before = { certId: "www", consecutiveFailures: 1, retryAt: null, lastError: "fake-ca: boom", authzFailures: 1, haltedAt: null };
    await store.putCertState(before);
    const outcome = await runner.start(cert("www", fakeCa(dir, clock, {})), "scheduled")!.done;
    expect(outcome.ok).toBe(false);
    expect(await store.getCertState("www")).toEqual(before);
    expect(events.at(-1)).toMatchObject({ type: "renewal.failed", certId: "www", interrupted: false, retryAt: null, error: replaced.message });
    expect(lines.filter((l) => l.startsWith("error "))).toEqual([
      expect.stringMatching(/^error www: renewal \S+ failed: rota was replaced while the daemon runs .*: restart the daemon; no cooldown for the cert, it is tried again at the next check$/),
    ]);
  });

  test("a failure keeps the order inputs of the config it ran on beside its cooldown; a success forgets them", async () => {
    let fail = true;
    const www = cert("www", fakeCa(dir, clock, { failWith: () => (fail ? new RotaError("ca_error", "fake-ca: boom") : undefined) }));
    const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
    const runner = new Runner({ store, bus, clock, log: silent }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800, orderInputs: (id) => `inputs of ${id}` });
    await runner.start(www, "scheduled")!.done;
    expect(await store.getCertState("www")).toMatchObject({ consecutiveFailures: 1, retryAt: new Date(now.getTime() + 900_000), inputs: "inputs of www" });
    fail = false;
    await runner.start(www, "manual")!.done;
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
  });

  test("a CA's Retry-After longer than the backoff sets the retry time", async () => {
    const limited = fakeCa(dir, clock, {
      failWith: () => new RotaError("rate_limited", "fake-ca: too many certificates (HTTP 429)", { retryAfterSeconds: 7_200 }),
    });
    const outcome = await newRunner(1).start(cert("www", limited), "scheduled")!.done;
    expect(outcome.ok).toBe(false);
    expect(await store.getCertState("www")).toEqual({
      certId: "www",
      consecutiveFailures: 1,
      retryAt: new Date(now.getTime() + 7_200_000),
      lastError: "fake-ca: too many certificates (HTTP 429)",
      authzFailures: 0,
      haltedAt: null,
    });
  });

  test("stop() during a blocked renewal: aborted, audited as interrupted, challenges removed, no cooldown", async () => {
    const gate = new Gate();
    const ca = fakeCa(dir, clock, { gate });
    const runner = newRunner(1);
    const running = runner.start(cert("www", ca), "scheduled")!;
    const queued = runner.start(cert("api", ca), "scheduled")!;
    await gate.untilEntered(1);
    expect([...dcv.live.keys()]).toEqual(["tok_www"]);
    expect(journal.entries()).toHaveLength(1);

    // The gate is never released: stop() must not wait for the CA.
    await runner.stop();
    expect(await running.done).toMatchObject({ ok: false, interrupted: true });
    expect(await queued.done).toMatchObject({ ok: false, interrupted: true });
    expect(gate.entered).toBe(1);

    expect(dcv.removed).toEqual(["tok_www"]);
    expect(dcv.live.size).toBe(0);
    expect(journal.entries()).toEqual([]);
    await bus.drain();
    const row = await store.getRenewal(running.renewalId);
    expect(row).toMatchObject({ status: "interrupted", certId: "www" });
    expect(row!.error).toContain("daemon stopping");
    expect(row!.events.map((e) => [e.step, e.status]).slice(-2)).toEqual([
      ["await_issuance", "failed"],
      ["remove", "ok"],
    ]);
    // A queued renewal has its row from the start, closed as interrupted with no steps.
    expect(await store.getRenewal(queued.renewalId)).toMatchObject({ status: "interrupted", events: [] });
    expect(await store.getCertState("www")).toBeNull();
    expect(runner.start(cert("www", ca), "manual")).toBeNull();
  });

  test("a reload while renewals wait for a slot: they run under the new settings, or never if their cert was removed", async () => {
    const gate = new Gate();
    const ca = fakeCa(dir, clock, { gate });
    const runner = newRunner(1);
    const running = runner.start(cert("www", ca), "scheduled")!;
    const kept = runner.start(cert("api", ca), "scheduled")!;
    const removed = runner.start(cert("old", ca), "scheduled")!;
    await gate.untilEntered(1);

    const executed: string[] = [];
    const execute = (req: ExecuteRequest) => (executed.push(req.certId), runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal }));
    runner.configure({ execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800 }, new Set(["www", "api"]));
    gate.releaseOne();
    expect((await running.done).ok).toBe(true);
    await gate.untilEntered(2);
    gate.releaseOne();
    expect((await kept.done).ok).toBe(true);
    const outcome = await removed.done;

    // The one already running finished on the settings it started with.
    expect(executed).toEqual(["api"]);
    expect(outcome).toMatchObject({ ok: false, interrupted: true });
    await bus.drain();
    expect(await store.getRenewal(removed.renewalId)).toMatchObject({ status: "interrupted", error: "runner: old was removed from the config before its renewal started", events: [] });
    expect(await store.getCertState("old")).toBeNull();
  });

  test("the reason and install-only list reach the run and its audit row", async () => {
    const www = cert("www", fakeCa(dir, clock, {}));
    const runner = newRunner(1);
    const first = runner.start(www, "startup")!;
    expect((await first.done).ok).toBe(true);
    const repair = runner.start(www, "scheduled", { installOnly: ["files"], reason: "files: damaged: privkey.pem is missing" })!;
    expect((await repair.done).ok).toBe(true);
    await bus.drain();
    expect(events.filter((e) => e.type === "renewal.started").map((e) => [e.type === "renewal.started" && e.installOnly, e.type === "renewal.started" && e.reason])).toEqual([
      [false, null],
      [true, "files: damaged: privkey.pem is missing"],
    ]);
    expect(await store.getRenewal(repair.renewalId)).toMatchObject({ installOnly: true, reason: "files: damaged: privkey.pem is missing", status: "succeeded" });
    expect((await store.getRenewal(repair.renewalId))!.events.map((e) => e.step)).toEqual(["key", "verify", "install"]);
  });

  test("an install target's Retry-After sets the cooldown", async () => {
    const www = cert("www", fakeCa(dir, clock, {}));
    www.installs = [{ name: "nas", install: async () => Promise.reject(new RotaError("rate_limited", "nas: too many uploads (HTTP 429)", { retryAfterSeconds: 7_200 })) }];
    expect((await newRunner(1).start(www, "scheduled")!.done).ok).toBe(false);
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 1, retryAt: new Date(now.getTime() + 7_200_000), lastError: "nas: too many uploads (HTTP 429)", authzFailures: 0, haltedAt: null });
  });
});

describe("how a failure is counted (issue 12 §5)", () => {
  const halting = (maxAuthzFailures: number) => {
    const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
    return new Runner({ store, bus, clock, log: silent }, { execute, policy: POLICY, maxAuthzFailures, maxConcurrent: 1, timeoutSeconds: 1800 });
  };
  const INVALID = "fake-ca: authorization invalid: 127.0.0.1: Connection refused";

  test("rate limits never count toward a halt; authorization failures halt at max_authz_failures, said in the row and by cert.halted; a success clears all", async () => {
    let failWith: (() => Error) | undefined = () => new RotaError("rate_limited", "fake-ca: too many new orders (HTTP 429)", { retryAfterSeconds: 120 });
    const www = cert("www", fakeCa(dir, clock, { failWith: () => failWith?.() }));
    const runner = halting(2);
    for (let i = 0; i < 3; i++) await runner.start(www, "scheduled")!.done;
    expect(await store.getCertState("www")).toMatchObject({ consecutiveFailures: 3, authzFailures: 0, haltedAt: null, retryAt: new Date(now.getTime() + 3_600_000) });

    failWith = () => new RotaError("authz_invalid", INVALID);
    await runner.start(www, "scheduled")!.done;
    expect(await store.getCertState("www")).toMatchObject({ consecutiveFailures: 4, authzFailures: 1, haltedAt: null, retryAt: new Date(now.getTime() + 7_200_000) });
    expect(events.some((e) => e.type === "cert.halted")).toBe(false);

    const halting2 = runner.start(www, "scheduled")!;
    await halting2.done;
    await bus.drain();
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 5, retryAt: null, lastError: INVALID, authzFailures: 2, haltedAt: now });
    const note = "stopped retrying after 2 authorization failures in a row: fix its DCV, then rota renew www --force";
    expect((await store.getRenewal(halting2.renewalId))!.error).toBe(`${INVALID}; ${note}`);
    expect(events.slice(-2)).toEqual([
      { type: "renewal.failed", renewalId: halting2.renewalId, certId: "www", at: now, error: `${INVALID}; ${note}`, interrupted: false, retryAt: null },
      { type: "cert.halted", certId: "www", failures: 2, lastError: INVALID, at: now },
    ]);

    failWith = undefined;
    expect((await runner.start(www, "manual")!.done).ok).toBe(true);
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
  });

  test("a failure retrying cannot fix (the CA's TLS not trusted) waits failure_cooldown_max_seconds at once", async () => {
    const untrusted = fakeCa(dir, clock, { failWith: () => new RotaError("network", "fake-ca: https://ca: self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)", { noRetry: true }) });
    await halting(5).start(cert("www", untrusted), "scheduled")!.done;
    expect(await store.getCertState("www")).toMatchObject({ consecutiveFailures: 1, authzFailures: 0, retryAt: new Date(now.getTime() + 86_400_000) });
  });

  test("a lower max_authz_failures from a reload applies to the next failure", async () => {
    const www = cert("www", fakeCa(dir, clock, { failWith: () => new RotaError("authz_invalid", INVALID) }));
    const runner = halting(5);
    await runner.start(www, "scheduled")!.done;
    await runner.start(www, "scheduled")!.done;
    const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
    runner.configure({ execute, policy: POLICY, maxAuthzFailures: 3, maxConcurrent: 1, timeoutSeconds: 1800 }, new Set(["www"]));
    await runner.start(www, "scheduled")!.done;
    expect(await store.getCertState("www")).toMatchObject({ authzFailures: 3, haltedAt: now, retryAt: null });
  });
});

describe("the renewal deadline", () => {
  test("a renewal past renewal_timeout_seconds is aborted like a shutdown, but fails with the step and cools down", async () => {
    const fake = new FakeClock(now);
    const gate = new Gate();
    const ca = fakeCa(dir, fake, { gate });
    const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock: fake, journal });
    const runner = new Runner({ store, bus, clock: fake, log: silent }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 60 });
    const run = runner.start(cert("www", ca), "scheduled")!;
    await gate.untilEntered(1);
    expect([...dcv.live.keys()]).toEqual(["tok_www"]);

    await fake.advance(59_000);
    expect(runner.busy("www")).toBe(true);
    await fake.advance(1_000);
    const outcome = await run.done;

    expect(outcome).toMatchObject({ ok: false, interrupted: false });
    expect((outcome as { error: Error }).error.message).toBe("timed out after 60 s in step await_issuance");
    expect(dcv.live.size).toBe(0);
    expect(journal.entries()).toEqual([]);
    await bus.drain();
    const row = await store.getRenewal(run.renewalId);
    expect(row).toMatchObject({ status: "failed", error: "timed out after 60 s in step await_issuance" });
    expect(row!.events.find((e) => e.step === "remove")?.status).toBe("ok");
    expect(await store.getCertState("www")).toMatchObject({ consecutiveFailures: 1, retryAt: new Date(fake.now().getTime() + 900_000) });
    // The slot is free again: the next renewal runs.
    expect(runner.start(cert("api", fakeCa(dir, fake, {})), "manual")).not.toBeNull();
    await runner.stop();
  });

  test("a cert whose CA needs longer (a Namecheap CA's issuance_timeout_seconds + 300) gets that deadline instead", async () => {
    const fake = new FakeClock(now);
    const gate = new Gate();
    const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock: fake, journal });
    const runner = new Runner({ store, bus, clock: fake, log: silent }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 60 });
    const run = runner.start({ ...cert("www", fakeCa(dir, fake, { gate })), minRenewalSeconds: 120 }, "scheduled")!;
    await gate.untilEntered(1);
    await fake.advance(119_000);
    expect(runner.busy("www")).toBe(true);
    await fake.advance(1_000);
    expect(((await run.done) as { error: Error }).error.message).toBe("timed out after 120 s in step await_issuance");
    await runner.stop();
  });

  test("waiting for a slot does not count against the deadline", async () => {
    const fake = new FakeClock(now);
    const gate = new Gate();
    const ca = fakeCa(dir, fake, { gate });
    const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock: fake, journal });
    const runner = new Runner({ store, bus, clock: fake, log: silent }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 60 });
    const first = runner.start(cert("www", ca), "scheduled")!;
    const queued = runner.start(cert("api", ca), "scheduled")!;
    await gate.untilEntered(1);
    await fake.advance(59_000);
    gate.releaseOne();
    expect((await first.done).ok).toBe(true);
    await gate.untilEntered(2);
    await fake.advance(59_000);
    gate.releaseOne();
    expect((await queued.done).ok).toBe(true);
    await runner.stop();
  });
});

describe("a queue of thousands (issue 11)", () => {
  test("10,000 queued renewals make no promise, controller, deadline or follow-up until their slot; each is visible, cancellable and awaitable", async () => {
    const calls = { execute: 0, timers: 0, onRun: 0 };
    const counting: Clock = { now: () => now, setTimeout: (fn, ms) => (calls.timers++, clock.setTimeout(fn, ms)), setInterval: clock.setInterval };
    // Two runs that hold their slots until they are aborted.
    const bothRunning = Promise.withResolvers<void>();
    const execute = (req: ExecuteRequest) => {
      if (++calls.execute === 2) bothRunning.resolve();
      return new Promise<never>((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true }));
    };
    const quietBus = new EventBus((err) => busErrors.push(err));
    const ended: RotaEvent[] = [];
    quietBus.subscribe((e) => void (e.type === "renewal.failed" && ended.push(e)));
    const runner = new Runner({ store, bus: quietBus, clock: counting, log: silent }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 2, timeoutSeconds: 60 });
    const ca = fakeCa(dir, clock, {});
    const onRun = () => void calls.onRun++;
    const ids = Array.from({ length: 10_000 }, (_, i) => `c${String(i).padStart(5, "0")}`);
    // All in one millisecond, as a first issuance makes them: their ids differ in their random part alone.
    const start = (id: string) => runner.start(cert(id, ca), "scheduled", { onRun });
    for (const id of ids.slice(0, 2)) start(id);
    await bothRunning.promise;
    expect(calls).toEqual({ execute: 2, timers: 2, onRun: 2 });

    // Counted while the other 9,998 are queued: what `new Promise`, `Promise.resolve` and `new AbortController` make.
    const made = { promises: 0, controllers: 0 };
    const RealPromise = globalThis.Promise;
    const RealController = globalThis.AbortController;
    globalThis.Promise = class extends RealPromise<unknown> {
      constructor(executor: ConstructorParameters<typeof Promise<unknown>>[0]) {
        super(executor);
        made.promises++;
      }
    } as PromiseConstructor;
    globalThis.AbortController = class extends RealController {
      constructor() {
        super();
        made.controllers++;
      }
    };
    try {
      for (const id of ids.slice(2)) start(id);
    } finally {
      globalThis.Promise = RealPromise;
      globalThis.AbortController = RealController;
    }
    await new RealPromise((resolve) => setImmediate(resolve));
    expect(made).toEqual({ promises: 0, controllers: 0 });
    expect(calls).toEqual({ execute: 2, timers: 2, onRun: 2 });
    expect(runner.activeRenewalIds().size).toBe(10_000);
    expect(runner.running()).toBe(2);

    // Still what the API sees: the id, found by renewal id, and a `done` made on demand.
    const last = runner.current("c09999")!;
    expect(runner.byRenewalId(last.renewalId)?.renewalId).toBe(last.renewalId);
    const waited = last.done;
    await runner.stop();
    expect(await waited).toMatchObject({ ok: false, interrupted: true });
    expect(ended.length).toBe(10_000);
    expect(ended.every((e) => e.type === "renewal.failed" && e.interrupted)).toBe(true);
    expect(calls).toEqual({ execute: 2, timers: 2, onRun: 10_000 });
    expect(runner.activeRenewalIds().size).toBe(0);
  });
});

describe("cluster mode", () => {
  const FENCE: Fence = { nodeId: "nas-1", instance: "i-1", term: 7 };
  let leading: boolean;
  const leadership: Leadership = { isLeader: () => leading, fence: () => (leading ? FENCE : null), leader: () => null };
  /** What each run was handed, by cert: the fence it carries. */
  let handed: Map<string, ExecuteRequest["cluster"]>;

  beforeEach(() => {
    leading = true;
    handed = new Map();
  });

  /** The cert with its key in place: in cluster mode a key is copied to a node, never made there. */
  function keyed(id: string, ca: CABackend): CertRuntime {
    const runtime = cert(id, ca);
    mkdirSync(join(dir, "keys"), { recursive: true });
    writeFileSync(runtime.config.keyPath, generateKeyPem("ecdsa-p256"), { mode: 0o600 });
    return runtime;
  }

  function clusterRunner(opts: { store?: PipelineStore; before?: (req: ExecuteRequest) => Promise<void>; maxConcurrent?: number } = {}): Runner {
    const execute = async (req: ExecuteRequest) => {
      handed.set(req.certId, req.cluster);
      await opts.before?.(req);
      return runRenewal(runtimes.get(req.certId)!, req, { store: opts.store ?? store, bus, clock, journal });
    };
    return new Runner({ store, bus, clock, log: silent }, { execute, policy: POLICY, maxAuthzFailures: 5, maxConcurrent: opts.maxConcurrent ?? 3, timeoutSeconds: 1800, cluster: { nodeId: "nas-1", leadership } });
  }

  test("abortOrders aborts orders, running or queued (challenges removed, interrupted, no cooldown); install-only runs go on and write no cert_state", async () => {
    const gate = new Gate();
    const ca = fakeCa(dir, clock, { gate });
    // The stored certificate the install-only run puts back, issued before the cluster run.
    const setup = newRunner(1).start(cert("api", fakeCa(dir, clock, {})), "startup")!;
    expect((await setup.done).ok).toBe(true);
    await store.putCertState({ certId: "api", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
    let releaseInstall = () => {};
    const installHeld = new Promise<void>((resolve) => (releaseInstall = resolve));
    let installSignal: AbortSignal | undefined;
    const runner = clusterRunner({
      maxConcurrent: 2,
      before: async (req) => {
        if (!req.installOnly) return;
        installSignal = req.signal;
        await installHeld;
      },
    });
    const order = runner.start(keyed("www", ca), "scheduled")!;
    const sync = runner.start(runtimes.get("api")!, "sync", { installOnly: ["files"] })!;
    const queued = runner.start(keyed("web", ca), "manual")!;
    await gate.untilEntered(1);
    expect(handed.get("www")).toEqual({ fence: FENCE });
    expect(handed.get("api")).toEqual({ fence: null });
    expect([...dcv.live.keys()]).toEqual(["tok_www"]);

    leading = false;
    expect(runner.abortOrders("refresh_failed")).toBe(2);
    expect(await order.done).toMatchObject({ ok: false, interrupted: true });
    expect(await queued.done).toMatchObject({ ok: false, interrupted: true });
    expect(dcv.live.size).toBe(0);
    expect(journal.entries()).toEqual([]);
    expect(installSignal?.aborted).toBe(false);
    releaseInstall();
    expect(await sync.done).toMatchObject({ ok: true });

    await bus.drain();
    const row = await store.getRenewal(order.renewalId);
    expect(row).toMatchObject({ status: "interrupted" });
    expect(row!.error).toContain("cluster: nas-1 stopped leading (refresh_failed); the order is left to the next leader");
    expect(await store.getRenewal(queued.renewalId)).toMatchObject({ status: "interrupted", events: [] });
    expect(await store.getRenewal(sync.renewalId)).toMatchObject({ status: "succeeded", installOnly: true, trigger: "sync" });
    expect(await store.getCertState("www")).toBeNull();
    expect(await store.getCertState("web")).toBeNull();
    // The install-only success did not touch the shared state either way (a stale cooldown would stay).
    await store.putCertState({ certId: "api", consecutiveFailures: 2, retryAt: new Date(now.getTime() + 60_000), lastError: "x", authzFailures: 0, haltedAt: null });
    expect((await runner.start(runtimes.get("api")!, "sync", { installOnly: ["files"] })!.done).ok).toBe(true);
    expect((await store.getCertState("api"))?.consecutiveFailures).toBe(2);
  });

  test("a fenced persist: nothing stored, nothing installed, no cooldown, the run ends interrupted", async () => {
    const www = keyed("www", fakeCa(dir, clock, {}));
    const refused = new RotaError("fenced", "cluster: not stored: nas-1 no longer holds the lease at term 7", { noRetry: true });
    const fenced: PipelineStore = { latestIssued: (id) => store.latestIssued(id), saveInstalled: (r) => store.saveInstalled(r), saveIssued: () => Promise.reject(refused) };
    const run = clusterRunner({ store: fenced }).start(www, "scheduled")!;
    expect(await run.done).toEqual({ ok: false, error: refused, interrupted: true });
    await bus.drain();
    expect(await store.getRenewal(run.renewalId)).toMatchObject({ status: "interrupted", error: "cluster: not stored: nas-1 no longer holds the lease at term 7" });
    expect(await store.latestIssued("www")).toBeNull();
    expect(existsSync(join(dir, "installed", "www"))).toBe(false);
    expect(await store.getCertState("www")).toBeNull();
    expect(events.filter((e) => e.type === "renewal.failed")).toMatchObject([{ interrupted: true, retryAt: null }]);
  });

  test("an order whose slot comes after the lease is gone is never placed: interrupted, the CA untouched", async () => {
    leading = false;
    let submitted = 0;
    const ca = fakeCa(dir, clock, {});
    const run = clusterRunner().start(keyed("www", { ...ca, submit: (req, signal) => (submitted++, ca.submit(req, signal)) }), "manual")!;
    expect(await run.done).toMatchObject({ ok: false, interrupted: true, error: { code: "not_leader" } });
    expect(submitted).toBe(0);
    expect(handed.has("www")).toBe(false);
    expect(await store.getCertState("www")).toBeNull();
  });

  test("the coordinator's fence outlives its lead (it names the last term): a slot after the lease is gone still never orders", async () => {
    const coordinatorLike: Leadership = { isLeader: () => leading, fence: () => FENCE, leader: () => null };
    leading = false;
    let submitted = 0;
    const ca = fakeCa(dir, clock, {});
    const www = keyed("www", { ...ca, submit: (req, signal) => (submitted++, ca.submit(req, signal)) });
    const runner = new Runner(
      { store, bus, clock, log: silent },
      { execute: (req) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal }), policy: POLICY, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800, cluster: { nodeId: "nas-1", leadership: coordinatorLike } },
    );
    expect(await runner.start(www, "manual")!.done).toMatchObject({ ok: false, interrupted: true, error: { code: "not_leader" } });
    expect(submitted).toBe(0);
    expect(await store.getCertState("www")).toBeNull();
  });

  test("an order that fails after its node stopped leading (before any abort reached it) sets no shared cooldown: interrupted", async () => {
    const ca = fakeCa(dir, clock, {});
    const refused = new RotaError("ca_rate_limited", "acme: too many certificates already issued", { retryAfterSeconds: 3600 });
    const www = keyed("www", {
      ...ca,
      submit: async () => {
        leading = false;
        throw refused;
      },
    });
    const run = clusterRunner().start(www, "scheduled")!;
    expect(await run.done).toMatchObject({ ok: false, interrupted: true });
    await bus.drain();
    expect(await store.getRenewal(run.renewalId)).toMatchObject({ status: "interrupted" });
    expect(await store.getCertState("www")).toBeNull();
    expect(events.filter((e) => e.type === "renewal.failed")).toMatchObject([{ interrupted: true, retryAt: null }]);
  });

  test("an install-only refusal fails the row with its code in the outcome, and sets no cooldown", async () => {
    const www = cert("www", fakeCa(dir, clock, {}));
    expect((await newRunner(1).start(www, "startup")!.done).ok).toBe(true);
    rmSync(www.config.keyPath);
    leading = false;
    const run = clusterRunner().start(www, "sync", { installOnly: ["files"], reason: "nothing installed" })!;
    const outcome = await run.done;
    expect(outcome).toMatchObject({ ok: false, interrupted: false });
    expect(!outcome.ok && outcome.error instanceof RotaError && outcome.error.code).toBe("key_missing");
    await bus.drain();
    expect(await store.getRenewal(run.renewalId)).toMatchObject({ status: "failed", trigger: "sync" });
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
    expect(events.filter((e) => e.type === "renewal.failed").at(-1)).toMatchObject({ interrupted: false, retryAt: null });
  });
});
