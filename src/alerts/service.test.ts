/** @module The alert service on a real store, a fake clock and fake sinks: what the bus's events become, expiry checks, test alerts, shutdown, a cluster follower's restraint. */
import { afterEach, beforeEach, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { ALERT_TYPES } from "../backends/registry.ts";
import type { AlertSection, RotaConfig } from "../config/schema.ts";
import { EventBus, type RotaEvent } from "../events.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { Leadership } from "../scheduler/leadership.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { testConfig } from "../testing/config.ts";
import { FakeClock, settle } from "../testing/fake-clock.ts";
import { FakeSink, type FakeAnswer } from "../testing/fake-sink.ts";
import { RotaError } from "../errors.ts";
import { PARTLY_DELIVERED } from "../backends/types.ts";
import { DEFAULT_ALERT_EVENTS } from "./catalogue.ts";
import { AlertService } from "./service.ts";

const DAY = 86_400_000;
let dir: string;
let store: SqliteAuditStore;
let clock: FakeClock;
let bus: EventBus;
let emitted: RotaEvent[];
let looks: Map<string, CertLook>;
/** The fake sinks the registry hands out, by name. */
let built: Map<string, FakeSink>;
/** How the sink of each name answers its attempts (FakeSink's script); every attempt succeeds otherwise. */
let scripts: Map<string, FakeAnswer[]>;

const section = (name: string, over: Partial<AlertSection> = {}): AlertSection => ({ name, type: "fake", options: {}, events: [...DEFAULT_ALERT_EVENTS], minSeverity: "info", repeatIntervalHours: 24, ...over });
const cert = { id: "www", domains: ["www.example"], ca: "le", dcv: undefined, install: ["files"], keyPath: "/k", keyType: "ecdsa-p256" as const, keyRotation: "never" as const, renewThresholdDays: undefined };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-alerts-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  clock = new FakeClock("2030-01-01T00:00:00Z");
  bus = new EventBus((err) => {
    throw err;
  });
  emitted = [];
  bus.subscribe((e) => void emitted.push(e));
  looks = new Map();
  built = new Map();
  scripts = new Map();
  ALERT_TYPES.fake = { parse: () => ({}), create: async (name) => built.set(name, new FakeSink(name, scripts.get(name))).get(name)! };
});
afterEach(async () => {
  delete ALERT_TYPES.fake;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function config(alerts: AlertSection[], daemon: Partial<RotaConfig["daemon"]> = {}): RotaConfig {
  return { ...testConfig(dir, [cert], { checkIntervalSeconds: 60, ...daemon }), alerts, http: { listener: null, publicUrl: "https://nas.example" } };
}

/** `cluster`: the daemon is a cluster's node `nas-2`, leading while `leads` says so. */
async function start(alerts: AlertSection[], cluster?: { leads: () => boolean }) {
  const watched: WatchedCert = { config: cert, installs: [] };
  const certs = { certs: () => [watched], find: (id: string) => (id === "www" ? watched : undefined), look: (id: string) => looks.get(id) };
  const log = createConsola({ level: 0 });
  const base = config(alerts);
  if (!cluster) return AlertService.start({ bus, store, certs, ctx: { stateDir: dir, clock, log, emit: () => {}, withheldEnv: () => [] }, log }, base);
  const leadership: Leadership = { isLeader: cluster.leads, fence: () => null, leader: () => null };
  const clustered = { ...base, cluster: { enabled: true, nodeId: "nas-2", lockTtlSeconds: 30, syncIntervalSeconds: 60 } };
  return AlertService.start({ bus, store, certs, ctx: { stateDir: dir, clock, log, emit: () => {}, withheldEnv: () => [] }, log, leadership }, clustered);
}

let renewals = 0;
async function renewal(outcome: "failed" | "succeeded", error = "acme: connection refused"): Promise<string> {
  const id = `r${++renewals}`;
  await store.openRenewal({ id, certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: clock.now() });
  await store.closeRenewal(id, outcome, clock.now(), outcome === "failed" ? error : null);
  if (outcome === "failed") bus.emit({ type: "renewal.failed", renewalId: id, certId: "www", at: clock.now(), error, interrupted: false, retryAt: new Date(clock.now().getTime() + 900_000) });
  else {
    const notAfter = new Date(clock.now().getTime() + 90 * DAY);
    await store.saveIssued({ certId: "www", renewalId: id, leafPem: "", chainPem: "", serial: "0a", notBefore: clock.now(), notAfter, issuedAt: clock.now() });
    bus.emit({ type: "renewal.succeeded", renewalId: id, certId: "www", at: clock.now(), serial: "0a", notAfter });
  }
  await settle();
  return id;
}

test("many failures send one alert per sink, with the renewal's facts; the success after sends one cert.recovered", async () => {
  const service = await start([section("mail"), section("hook")]);
  looks.set("www", { decision: { action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: new Date(clock.now().getTime() + 3 * DAY) }, threshold: null, ari: null, error: null, dueSince: clock.now(), targets: [], latestSerial: null });
  const first = await renewal("failed");
  for (let i = 0; i < 20; i++) await renewal("failed");
  await renewal("succeeded");
  await renewal("succeeded");
  await settle();
  for (const name of ["mail", "hook"]) {
    expect(built.get(name)!.delivered.map((a) => a.type)).toEqual(["renewal.failed", "cert.recovered"]);
  }
  const alert = built.get("mail")!.delivered[0]!;
  expect(alert).toMatchObject({
    type: "renewal.failed",
    severity: "critical",
    message: "Renewal of www failed (3 days left): acme: connection refused",
    cert: { id: "www", domains: ["www.example"], daysLeft: 3 },
    renewal: { id: first, trigger: "scheduled", status: "failed", error: "acme: connection refused" },
    url: "https://nas.example/certs/www",
  });
  expect(emitted.filter((e) => e.type === "cert.recovered").length).toBe(1);
  // The new certificate's expiry, not the one the scheduler saw before the renewal.
  expect(built.get("mail")!.delivered[1]).toMatchObject({ type: "cert.recovered", message: "www renewed successfully after failing (90 days left)", cert: { daysLeft: 90 } });
  expect((await store.listDeliveries(10)).map((d) => `${d.sink} ${d.event} ${d.outcome}`).sort()).toEqual([
    "hook cert.recovered delivered",
    "hook renewal.failed delivered",
    "mail cert.recovered delivered",
    "mail renewal.failed delivered",
  ]);
  await service.stop();
});

test("a halt reaches every default sink, critical, with what to do, even right after a failure alert; a resume only those asking for it", async () => {
  const service = await start([section("mail"), section("all", { events: ["renewal.failed", "cert.halted", "cert.resumed"] })]);
  looks.set("www", { decision: { action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: new Date(clock.now().getTime() + 60 * DAY) }, threshold: { days: 30, source: "daemon" }, error: null, dueSince: clock.now(), targets: [], latestSerial: null, ari: null });
  await renewal("failed");
  const lastError = "acme le: authorization invalid: 127.0.0.1: Connection refused";
  bus.emit({ type: "cert.halted", certId: "www", failures: 5, lastError, at: clock.now() });
  await settle();
  bus.emit({ type: "cert.resumed", certId: "www", at: clock.now() });
  await settle();
  expect(built.get("mail")!.delivered.map((a) => a.type)).toEqual(["renewal.failed", "cert.halted"]);
  expect(built.get("all")!.delivered.map((a) => a.type)).toEqual(["renewal.failed", "cert.halted", "cert.resumed"]);
  expect(built.get("mail")!.delivered[1]).toMatchObject({
    severity: "critical",
    message: `www stopped retrying after 5 authorization failures in a row (${lastError}); fix its DCV, then rota renew www --force (60 days left)`,
    renewal: null,
    next: null,
  });
  expect(built.get("all")!.delivered[2]).toMatchObject({ severity: "info", message: "www resumed: a forced renewal cleared its halt (60 days left)" });
  await service.stop();
});

test("an interrupted renewal alerts nobody", async () => {
  const service = await start([section("mail")]);
  bus.emit({ type: "renewal.failed", renewalId: "x", certId: "www", at: clock.now(), error: "cancelled", interrupted: true, retryAt: null });
  await settle();
  expect(built.get("mail")!.attempts).toEqual([]);
  await service.stop();
});

test("at each check interval a cert due too long close to expiry is expiring; a warning while more days are left than expiry_warning_days", async () => {
  const service = await start([section("mail")]);
  looks.set("www", { decision: { action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: new Date(clock.now().getTime() + 5 * DAY) }, threshold: null, ari: null, error: null, dueSince: clock.now(), targets: [], latestSerial: null });
  await clock.advance(60_000);
  expect(emitted.filter((e) => e.type === "cert.expiring")).toEqual([]);
  await clock.advance(60_000);
  expect(emitted.filter((e) => e.type === "cert.expiring").map((e) => (e as { daysLeft: number }).daysLeft)).toEqual([4]);
  await clock.advance(60_000);
  await settle();
  expect(built.get("mail")!.delivered.map((a) => [a.type, a.severity])).toEqual([["cert.expiring", "critical"]]);
  await service.stop();
});

test("the interval's expiry check reads the store only for certs that may be expiring: none in a healthy fleet", async () => {
  const service = await start([section("mail")]);
  const read = spyOn(store, "latestIssuedSummaries");
  const notAfter = new Date(clock.now().getTime() + 5 * DAY);
  // Fine, then due but with more days left than expiry_warning_days, then due only since now.
  looks.set("www", { decision: { action: "none", why: "lifetime", moment: null, reason: "fine", notAfter, newest: notAfter }, threshold: null, ari: null, error: null, dueSince: null, targets: [], latestSerial: null });
  await clock.advance(60_000);
  looks.set("www", { decision: { action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: new Date(clock.now().getTime() + 60 * DAY) }, threshold: null, ari: null, error: null, dueSince: new Date(clock.now().getTime() - DAY), targets: [], latestSerial: null });
  await clock.advance(60_000);
  expect(read).not.toHaveBeenCalled();
  looks.set("www", { decision: { action: "renew", why: "lifetime", moment: null, reason: "due", notAfter }, threshold: null, ari: null, error: null, dueSince: new Date(clock.now().getTime() - DAY), targets: [], latestSerial: null });
  await clock.advance(60_000);
  expect(read.mock.calls).toEqual([[["www"]]]);
  read.mockRestore();
  await service.stop();
});

test("a test alert reaches every sink past the limit, or the one named, with each outcome", async () => {
  const service = await start([section("mail"), section("hook", { events: ["cert.expiring"], minSeverity: "critical" })]);
  expect(await service.test({ sink: null, certId: "www" })).toEqual([
    { sink: "mail", outcome: "delivered", error: null, attempts: 1, partly: false },
    { sink: "hook", outcome: "delivered", error: null, attempts: 1, partly: false },
  ]);
  expect(await service.test({ sink: "hook", certId: null })).toEqual([{ sink: "hook", outcome: "delivered", error: null, attempts: 1, partly: false }]);
  expect(built.get("hook")!.delivered.map((a) => a.message)).toEqual([`Test alert from rota on ${built.get("hook")!.delivered[0]!.node} for www`, `Test alert from rota on ${built.get("hook")!.delivered[0]!.node}`]);
  expect(emitted.filter((e) => e.type === "alert.test").map((e) => (e as { sink: string | null }).sink)).toEqual([null, "hook"]);
  await service.stop();
});

test("a reload keeps unchanged sinks, builds changed ones and drops removed ones", async () => {
  const service = await start([section("mail"), section("hook")]);
  const mail = built.get("mail");
  const next = config([section("mail", { repeatIntervalHours: 2 }), section("new", { options: { x: 1 } })]);
  service.use(next, await service.build(next));
  expect(service.sinkNames()).toEqual(["mail", "new"]);
  expect(built.get("mail")).toBe(mail!);
  await service.stop();
});

test("the audit store's outage reaches the sinks though the store cannot be read; its end follows", async () => {
  const service = await start([section("mail"), section("quiet", { events: ["renewal.failed"] })]);
  // The store is away: every call fails as SurrealAuditStore's do.
  const away = () => Promise.reject(new Error("audit: SurrealDB at wss://db.example.net/rpc is not connected"));
  for (const m of ["alertLimit", "putAlertLimit", "getRenewal", "getCertState", "recordDelivery", "latestIssued", "listRenewals", "listRenewalHeads"] as const) (store as unknown as Record<string, unknown>)[m] = away;
  bus.emit({ type: "store.disconnected", at: clock.now(), error: "no answer within 5 s" });
  bus.emit({ type: "store.reconnected", at: clock.now(), flushed: 40, dropped: 2 });
  await settle();
  expect(built.get("mail")!.delivered.map((a) => [a.type, a.severity, a.message])).toEqual([
    ["store.disconnected", "warning", "The audit store is not connected (no answer within 5 s): the audit trail waits in memory, and renewals cannot store new certificates until it is back"],
    ["store.reconnected", "info", "The audit store is connected again: 40 buffered write(s) stored, 2 dropped (buffer_max_writes reached)"],
  ]);
  expect(built.get("quiet")!.delivered).toEqual([]);
  await service.stop();
});

test("cluster events: the node id as the alert's node; a lost lease and a refused install warn, a new leader informs", async () => {
  const service = await start([section("mail"), section("loud", { minSeverity: "warning" })], { leads: () => true });
  bus.emit({ type: "cluster.leader_acquired", nodeId: "nas-2", term: 8, at: clock.now() });
  bus.emit({ type: "cluster.leader_lost", nodeId: "nas-2", term: 8, reason: "refresh_failed", at: clock.now() });
  bus.emit({ type: "cluster.install_refused", nodeId: "nas-2", certId: "www", serial: "0a1b", reason: "key_mismatch: /k is not the key of the stored certificate", at: clock.now() });
  await settle();
  expect(built.get("mail")!.delivered.map((a) => [a.type, a.severity, a.node, a.message, a.cert?.id ?? null])).toEqual([
    ["cluster.leader_acquired", "info", "nas-2", "Cluster: nas-2 leads the cluster now, at term 8", null],
    ["cluster.leader_lost", "warning", "nas-2", "Cluster: nas-2 stopped leading the cluster at term 8: it could not refresh the lease in time (the database unreachable or slow)", null],
    ["cluster.install_refused", "warning", "nas-2", "Cluster: nas-2 did not install www's certificate 0a1b: key_mismatch: /k is not the key of the stored certificate; it keeps serving the one it has", "www"],
  ]);
  expect(built.get("loud")!.delivered.map((a) => a.type)).toEqual(["cluster.leader_lost", "cluster.install_refused"]);
  await service.stop();
});

test("a follower checks no expiry and writes no shared repeat limit: its own failures are limited in memory; as leader it writes the store", async () => {
  let leads = false;
  const service = await start([section("mail")], { leads: () => leads });
  looks.set("www", { decision: { action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: new Date(clock.now().getTime() + 3 * DAY) }, threshold: null, ari: null, error: null, dueSince: clock.now(), targets: [], latestSerial: null });
  await clock.advance(10 * 60_000);
  expect(emitted.filter((e) => e.type === "cert.expiring")).toEqual([]);
  // A follower's own install failures: the first goes out, the next is held, and the store holds no limit.
  await renewal("failed");
  await renewal("failed");
  expect(built.get("mail")!.delivered.map((a) => [a.type, a.node])).toEqual([["renewal.failed", "nas-2"]]);
  expect(await store.alertLimit("mail", "www")).toBeNull();
  // Leading now: the expiry check runs, and the limit it keeps is the shared one.
  leads = true;
  await clock.advance(60_000);
  await settle();
  expect(emitted.filter((e) => e.type === "cert.expiring").length).toBe(1);
  expect(built.get("mail")!.delivered.map((a) => a.type)).toEqual(["renewal.failed", "cert.expiring"]);
  expect(await store.alertLimit("mail", "www")).toMatchObject({ sink: "mail", key: "www", held: 0 });
  await service.stop();
});

test("a failure alert that did not arrive holds nothing back: the next failure is sent; a sink refusing for good gets one try per failure and nothing on its own", async () => {
  const unavailable = () => new RotaError("http", "hook: HTTP 503 Service Unavailable");
  scripts.set("hook", [unavailable(), unavailable(), unavailable()]);
  scripts.set("slack", Array.from({ length: 10 }, () => new RotaError("http", "slack: HTTP 400 Bad Request", { noRetry: true })));
  const service = await start([section("mail"), section("hook"), section("slack")]);
  await renewal("failed");
  await clock.advance(15_000);
  await settle();
  expect(built.get("hook")!.attempts.length).toBe(3);
  await clock.advance(60_000);
  await renewal("failed");
  await clock.advance(3_600_000);
  await renewal("failed");
  await clock.advance(3_600_000);
  const outcomes = async (sink: string) =>
    (await store.listDeliveries(100))
      .filter((d) => d.sink === sink)
      .reverse()
      .map((d) => `${d.outcome} ${d.attempts}`);
  expect(await outcomes("mail")).toEqual(["delivered 1"]);
  // Its first alert lost after 3 attempts; the second delivered, and the hold runs from it.
  expect(await outcomes("hook")).toEqual(["retrying 1", "retrying 2", "failed 3", "delivered 1"]);
  expect(await outcomes("slack")).toEqual(["failed 1", "failed 1", "failed 1"]);
  await renewal("succeeded");
  await settle();
  expect(built.get("mail")!.delivered.map((a) => a.type)).toEqual(["renewal.failed", "cert.recovered"]);
  expect(built.get("hook")!.delivered.map((a) => a.type)).toEqual(["renewal.failed", "cert.recovered"]);
  // It never got a failure alert: no recovery either.
  expect(built.get("slack")!.delivered).toEqual([]);
  await service.stop();
});

test("a failure alert some recipients got is recorded failed but counts for the repeat limit: they do not hear of every failure", async () => {
  const bounce = () => new RotaError(PARTLY_DELIVERED, "mail: smtp:25: refused for bad@example.com (550 no such user); delivered to ops@example.com", { noRetry: true });
  scripts.set("mail", Array.from({ length: 5 }, bounce));
  const service = await start([section("mail")]);
  for (let i = 0; i < 3; i++) {
    await renewal("failed");
    await clock.advance(3_600_000);
  }
  await settle();
  expect(built.get("mail")!.attempts.map((a) => a.type)).toEqual(["renewal.failed"]);
  expect((await store.listDeliveries(10)).map((d) => `${d.outcome} ${d.error}`)).toEqual(["failed mail: smtp:25: refused for bad@example.com (550 no such user); delivered to ops@example.com"]);
  await service.stop();
});

test("a failure alert still under way at shutdown is recorded as not sent and holds nothing back after the restart", async () => {
  scripts.set("hook", ["hang"]);
  const service = await start([section("hook")]);
  await renewal("failed");
  const stopping = service.stop();
  // The grace period, on the fake clock.
  await clock.advance(1_000);
  await clock.advance(1_000);
  await stopping;
  expect((await store.listDeliveries(10)).map((d) => d.outcome)).toEqual(["not_sent"]);
  expect(await store.alertLimit("hook", "www")).toBeNull();
  const restarted = await start([section("hook")]);
  await renewal("failed");
  expect(built.get("hook")!.delivered.map((a) => a.type)).toEqual(["renewal.failed"]);
  await restarted.stop();
});
