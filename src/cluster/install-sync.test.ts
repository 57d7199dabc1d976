/**
 * @module InstallSyncTask on a fake clock with a fake scheduler, runner and store: what a
 * pass installs, when passes run, the refusal said once per serial and the backoff.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import type { CertConfig } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
import { EventBus, type RotaEvent } from "../events.ts";
import type { RunOutcome } from "../pipeline/renewer.ts";
import type { WatchedCert, Watchlist } from "../pipeline/runtime.ts";
import type { CertSummary } from "../scheduler/due.ts";
import type { StartOptions, Started } from "../scheduler/runner.ts";
import type { CertLook, TargetLook } from "../scheduler/scheduler.ts";
import { testConfig } from "../testing/config.ts";
import { FakeClock, settle } from "../testing/fake-clock.ts";
import { InstallSyncTask } from "./install-sync.ts";

const DAY = 86_400_000;
const SYNC_S = 60;
const CHECK_S = 10;
/** `failure_cooldown_seconds` of the test config. */
const COOLDOWN_S = 900;

let clock: FakeClock;
let events: RotaEvent[];
/** The store's newest certificate per cert. */
let stored: Map<string, CertSummary>;
/** What each cert's targets serve, as the scheduler's look finds them. */
let served: Map<string, TargetLook[]>;
let refreshed: string[];
let summaryReads: number;
/** Set: the next refresh waits for it. */
let refreshGate: Promise<void> | null;
let runs: Array<{ certId: string; trigger: string; opts: StartOptions; finish: (o: RunOutcome) => void }>;
let busy: Set<string>;
let runnerStopping: boolean;
let watch: Watchlist;
let task: InstallSyncTask | undefined;
/** The store's server is away: every read fails. */
let storeDown: boolean;
let logged: string[];

const summary = (serial: string, days = 80): CertSummary => ({
  serial,
  notBefore: new Date(clock.now().getTime() + (days - 90) * DAY),
  notAfter: new Date(clock.now().getTime() + days * DAY),
  keyType: "ecdsa-p256",
  names: ["www.example.com"],
});

function certConfig(id: string): CertConfig {
  return { id, domains: [`${id}.example.com`], ca: "le", dcv: undefined, install: ["files", "nginx"], keyPath: `/keys/${id}.key`, keyType: "ecdsa-p256", renewThresholdDays: undefined, keyRotation: "never" };
}

function watching(...ids: string[]): void {
  const certs: WatchedCert[] = ids.map((id) => ({ config: certConfig(id), installs: [] }));
  watch = { config: testConfig("/tmp/rota-sync-test", certs.map((c) => c.config), { failureCooldownSeconds: COOLDOWN_S, failureCooldownMaxSeconds: 4 * COOLDOWN_S }), certs, dcvs: new Map() };
}

function newTask(): InstallSyncTask {
  const bus = new EventBus((err) => {
    throw err;
  });
  bus.subscribe((e) => void events.push(e));
  task = new InstallSyncTask({
    scheduler: {
      watched: () => watch,
      async refresh(cert: WatchedCert): Promise<CertLook> {
        refreshed.push(cert.config.id);
        if (refreshGate) await refreshGate;
        const targets = served.get(cert.config.id) ?? [];
        return { decision: null, threshold: null, ari: null, error: targets.find((t) => t.error)?.error ?? null, targets, dueSince: null, latestSerial: stored.get(cert.config.id)?.serial ?? null };
      },
    },
    runner: {
      busy: (id) => busy.has(id),
      start(cert, trigger, opts = {}): Started | null {
        if (runnerStopping || busy.has(cert.config.id)) return null;
        const certId = cert.config.id;
        busy.add(certId);
        let finish: (o: RunOutcome) => void = () => {};
        const done = new Promise<RunOutcome>((resolve) => (finish = resolve)).finally(() => busy.delete(certId));
        runs.push({ certId, trigger, opts, finish });
        return { renewalId: `r${runs.length}`, done };
      },
    },
    store: {
      async latestIssuedSummaries(ids) {
        summaryReads++;
        if (storeDown) throw new RotaError("store_unavailable", "audit: SurrealDB at ws://db:8000 is not connected");
        return new Map(ids.flatMap((id) => (stored.has(id) ? [[id, stored.get(id)!] as const] : [])));
      },
    },
    bus,
    clock,
    log: createConsola({ level: 3, reporters: [{ log: (o) => void logged.push(o.args.join(" ")) }] }),
    nodeId: "nas-2",
    syncIntervalSeconds: SYNC_S,
    checkSeconds: CHECK_S,
  });
  return task;
}

/** Starts the task and lets its first pass end. */
async function started(): Promise<InstallSyncTask> {
  const t = newTask();
  t.start();
  await settle();
  return t;
}

const refusal = (serial: string): RunOutcome => ({ ok: false, error: new RotaError("key_mismatch", `pipeline: /keys/www.key does not hold the key of certificate ${serial}`), interrupted: false });
const refusedEvents = () => events.filter((e) => e.type === "cluster.install_refused");
const state = (id: string) => task!.certs().find((c) => c.id === id);

beforeEach(() => {
  clock = new FakeClock();
  events = [];
  stored = new Map();
  served = new Map();
  refreshed = [];
  summaryReads = 0;
  storeDown = false;
  logged = [];
  refreshGate = null;
  runs = [];
  busy = new Set();
  runnerStopping = false;
  watching("www");
});

afterEach(async () => {
  await task?.stop();
  task = undefined;
});

test("a database outage fails every pass: said once, and once more when passes work again", async () => {
  stored.set("www", summary("02"));
  served.set("www", [{ target: "files", installed: stored.get("www")! }, { target: "nginx", installed: stored.get("www")! }]);
  storeDown = true;
  await started();
  for (let i = 0; i < 3; i++) {
    await clock.advance(SYNC_S * 1000);
    await settle();
  }
  // The pass and the lease tick's serial check each say it once.
  expect(logged.filter((l) => l.includes("sync:")).sort()).toEqual([
    "sync: cannot read the stored certificates: audit: SurrealDB at ws://db:8000 is not connected",
    "sync: pass failed: audit: SurrealDB at ws://db:8000 is not connected; said once until a pass works",
  ]);
  storeDown = false;
  logged = [];
  await clock.advance(SYNC_S * 1000);
  await settle();
  expect(logged.filter((l) => l.includes("sync:"))).toEqual(["sync: passes work again"]);
});

describe("a pass", () => {
  test("installs the stored certificate on the stale targets only, as a sync run naming why", async () => {
    watching("www", "api", "new");
    const www = summary("02");
    stored.set("www", www).set("api", summary("0a"));
    served.set("www", [{ target: "files", installed: www }, { target: "nginx", installed: summary("01", 20) }]);
    served.set("api", [{ target: "files", installed: stored.get("api")! }, { target: "nginx", installed: stored.get("api")! }]);
    served.set("new", [{ target: "files", installed: null }, { target: "nginx", installed: null }]);
    await started();
    expect(runs.map((r) => [r.certId, r.trigger, r.opts])).toEqual([["www", "sync", { installOnly: ["nginx"], reason: "nginx does not serve the newest certificate (serial 02)" }]]);
    const at = clock.now().toISOString();
    expect(task!.certs()).toEqual([
      { id: "www", stored_serial: "02", installed_serial: "01", state: "syncing", error: null, checked_at: at },
      { id: "api", stored_serial: "0a", installed_serial: "0a", state: "in_sync", error: null, checked_at: at },
      { id: "new", stored_serial: null, installed_serial: null, state: "no_certificate", error: null, checked_at: at },
    ]);
  });

  test("every install-only cause: a damaged set, drift at a verify_served endpoint, a target that serves nothing; a later one put there by hand is left alone", async () => {
    watching("www", "dsm", "hand");
    const s = summary("02");
    stored.set("www", s).set("dsm", s).set("hand", s);
    served.set("www", [{ target: "files", installed: null, damaged: "privkey.pem is missing" }, { target: "nginx", installed: summary("01", 20), servedAt: "127.0.0.1:443" }]);
    served.set("dsm", [{ target: "files", installed: s }, { target: "nginx", installed: null }]);
    served.set("hand", [{ target: "files", installed: s }, { target: "nginx", installed: summary("09", 85) }]);
    await started();
    expect(runs.map((r) => [r.certId, r.opts.installOnly, r.opts.reason])).toEqual([
      ["www", ["files", "nginx"], "files: damaged: privkey.pem is missing; nginx (127.0.0.1:443 serves 01) does not serve the newest certificate (serial 02)"],
      ["dsm", ["nginx"], "nginx does not serve the newest certificate (serial 02)"],
    ]);
    expect(state("hand")).toMatchObject({ state: "in_sync", installed_serial: "09" });
  });

  test("a cert with a run in progress (the leader's renewal) is neither looked at nor started", async () => {
    stored.set("www", summary("02"));
    served.set("www", [{ target: "files", installed: null }]);
    busy.add("www");
    await started();
    expect(refreshed).toEqual([]);
    expect(runs).toEqual([]);
    expect(task!.certs()).toEqual([]);
  });

  test("no target readable: failed with the read-back's error, nothing started; a runner that refuses to start: behind", async () => {
    watching("www", "api");
    stored.set("www", summary("02")).set("api", summary("02"));
    served.set("www", [{ target: "files", installed: null, error: "files: read-back timed out after 30 s" }]);
    served.set("api", [{ target: "files", installed: null }]);
    runnerStopping = true;
    await started();
    expect(runs).toEqual([]);
    expect(state("www")).toEqual({ id: "www", stored_serial: "02", installed_serial: null, state: "failed", error: "files: read-back timed out after 30 s", checked_at: clock.now().toISOString() });
    expect(state("api")).toMatchObject({ state: "behind", error: null });
  });

  test("a successful run is followed by a look: in sync", async () => {
    const s = summary("02");
    stored.set("www", s);
    served.set("www", [{ target: "files", installed: summary("01", 20) }]);
    await started();
    served.set("www", [{ target: "files", installed: s }]);
    runs[0]!.finish({ ok: true, issued: { certId: "www", renewalId: "r1", leafPem: "", chainPem: "", serial: "02", notBefore: s.notBefore, notAfter: s.notAfter, issuedAt: s.notBefore } });
    await settle();
    expect(refreshed).toEqual(["www", "www"]);
    expect(state("www")).toMatchObject({ state: "in_sync", installed_serial: "02" });
  });
});

describe("refusals and failures", () => {
  beforeEach(() => {
    stored.set("www", summary("02"));
    served.set("www", [{ target: "files", installed: summary("01", 20) }]);
  });

  test("a refusal says cluster.install_refused once per serial, and backs off by the cooldown formula", async () => {
    await started();
    runs[0]!.finish(refusal("02"));
    await settle();
    expect(refusedEvents()).toEqual([{ type: "cluster.install_refused", nodeId: "nas-2", certId: "www", serial: "02", reason: "pipeline: /keys/www.key does not hold the key of certificate 02", at: clock.now() }]);
    expect(state("www")).toMatchObject({ state: "refused", stored_serial: "02", installed_serial: "01", error: "pipeline: /keys/www.key does not hold the key of certificate 02" });
    // Passes come and go during the first cooldown (900 s) without a run.
    await clock.advance((COOLDOWN_S - 1) * 1000);
    expect(runs.length).toBe(1);
    expect(state("www")!.state).toBe("refused");
    await clock.advance(SYNC_S * 1000);
    expect(runs.length).toBe(2);
    expect(state("www")!.state).toBe("syncing");
    runs[1]!.finish(refusal("02"));
    await settle();
    expect(refusedEvents().length).toBe(1);
    // The second failure in a row doubles it.
    const second = clock.now().getTime();
    await clock.advance(2 * COOLDOWN_S * 1000 - 1000);
    expect(runs.length).toBe(2);
    await clock.advance(SYNC_S * 1000);
    expect(runs.length).toBe(3);
    expect(clock.now().getTime() - second).toBeGreaterThanOrEqual(2 * COOLDOWN_S * 1000);
  });

  test("the backoff is the cert's install failure on this node, with the failed run as its audit row says it, until a run succeeds", async () => {
    expect(task?.installFailure("www") ?? null).toBeNull();
    await started();
    const startedAt = clock.now();
    await clock.advance(5000);
    runs[0]!.finish(refusal("02"));
    await settle();
    const failure = task!.installFailure("www")!;
    expect(failure).toMatchObject({ serial: "02", failures: 1, refused: true, retryAt: new Date(clock.now().getTime() + COOLDOWN_S * 1000) });
    expect(failure.run).toEqual({
      id: "r1",
      certId: "www",
      trigger: "sync",
      installOnly: true,
      reason: "files does not serve the newest certificate (serial 02)",
      status: "failed",
      startedAt,
      finishedAt: clock.now(),
      error: "pipeline: /keys/www.key does not hold the key of certificate 02",
      node: "nas-2",
    });
    // The same object while nothing changes: views compare it by identity.
    await clock.advance(SYNC_S * 1000);
    expect(task!.installFailure("www")).toBe(failure);
    await clock.advance(COOLDOWN_S * 1000);
    const s = summary("02");
    runs[1]!.finish({ ok: true, issued: { certId: "www", renewalId: "r2", leafPem: "", chainPem: "", serial: "02", notBefore: s.notBefore, notAfter: s.notAfter, issuedAt: s.notBefore } });
    await settle();
    expect(task!.installFailure("www")).toBeNull();
  });

  test("a new serial resets the backoff: tried at the next tick, and its refusal said too", async () => {
    await started();
    runs[0]!.finish(refusal("02"));
    await settle();
    stored.set("www", summary("03", 85));
    await clock.advance(CHECK_S * 1000);
    expect(runs.length).toBe(2);
    runs[1]!.finish(refusal("03"));
    await settle();
    expect(refusedEvents().map((e) => e.type === "cluster.install_refused" && e.serial)).toEqual(["02", "03"]);
  });

  test("another failure backs off the same way, says no refusal, and reads failed", async () => {
    await started();
    runs[0]!.finish({ ok: false, error: new RotaError("install_failed", "files: /etc/ssl/www is read-only"), interrupted: false });
    await settle();
    expect(refusedEvents()).toEqual([]);
    expect(state("www")).toMatchObject({ state: "failed", error: "files: /etc/ssl/www is read-only" });
    await clock.advance((COOLDOWN_S - 1) * 1000);
    expect(runs.length).toBe(1);
  });

  test("a Retry-After longer than the cooldown is waited out", async () => {
    await started();
    runs[0]!.finish({ ok: false, error: new RotaError("install_failed", "dsm: busy", { retryAfterSeconds: 3 * COOLDOWN_S }), interrupted: false });
    await settle();
    await clock.advance(2 * COOLDOWN_S * 1000);
    expect(runs.length).toBe(1);
    await clock.advance(COOLDOWN_S * 1000);
    expect(runs.length).toBe(2);
  });

  test("an interrupted run sets no backoff", async () => {
    await started();
    runs[0]!.finish({ ok: false, error: new RotaError("aborted", "pipeline: cancelled"), interrupted: true });
    await settle();
    expect(runs.length).toBe(2);
    expect(refusedEvents()).toEqual([]);
  });
});

describe("when passes run", () => {
  test("at start, every sync_interval_seconds, and for a cert whose stored serial changed, at the next check", async () => {
    watching("www", "api");
    const s = summary("02");
    stored.set("www", s).set("api", s);
    served.set("www", [{ target: "files", installed: s }]);
    served.set("api", [{ target: "files", installed: s }]);
    await started();
    expect(refreshed).toEqual(["www", "api"]);
    // Checks with nothing new read the store and look at nothing.
    const reads = summaryReads;
    await clock.advance(3 * CHECK_S * 1000);
    expect(summaryReads).toBe(reads + 3);
    expect(refreshed).toEqual(["www", "api"]);
    stored.set("api", summary("03", 85));
    await clock.advance(CHECK_S * 1000);
    expect(refreshed).toEqual(["www", "api", "api"]);
    expect(runs.map((r) => [r.certId, r.opts.installOnly])).toEqual([["api", ["files"]]]);
    const issued = stored.get("api")!;
    served.set("api", [{ target: "files", installed: issued }]);
    runs[0]!.finish({ ok: true, issued: { certId: "api", renewalId: "r1", leafPem: "", chainPem: "", serial: "03", notBefore: issued.notBefore, notAfter: issued.notAfter, issuedAt: issued.notBefore } });
    await settle();
    expect(refreshed).toEqual(["www", "api", "api", "api"]);
    await clock.advance((SYNC_S - 4 * CHECK_S) * 1000);
    expect(refreshed.slice(4)).toEqual(["www", "api"]);
  });

  test("a cert added by a reload is looked at by the next check", async () => {
    await started();
    watching("www", "api");
    await clock.advance(CHECK_S * 1000);
    expect(refreshed).toEqual(["www", "api"]);
    expect(state("api")).toMatchObject({ state: "no_certificate" });
  });

  test("stop: the pass in flight finishes without starting a run, and none follows", async () => {
    stored.set("www", summary("02"));
    served.set("www", [{ target: "files", installed: null }]);
    let open: () => void = () => {};
    refreshGate = new Promise<void>((resolve) => (open = resolve));
    const t = newTask();
    t.start();
    await settle();
    expect(refreshed).toEqual(["www"]);
    let stopped = false;
    const stopping = t.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    open();
    await stopping;
    expect(runs).toEqual([]);
    expect(clock.pending()).toBe(0);
    refreshGate = null;
    await clock.advance(10 * SYNC_S * 1000);
    expect(refreshed).toEqual(["www"]);
  });
});
