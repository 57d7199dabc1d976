/** @module The repeat limit with a fake clock and a real store: what a day of failures, a recovery and a restart send. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { DEFAULT_ALERT_EVENTS } from "./catalogue.ts";
import { AlertRouter, type Routable, type Send, type SinkPolicy } from "./router.ts";

let dir: string;
let store: SqliteAuditStore;
let clock: FakeClock;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-router-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  clock = new FakeClock("2030-01-01T00:00:00Z");
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const mail: SinkPolicy = { name: "mail", events: DEFAULT_ALERT_EVENTS, minSeverity: "info", repeatIntervalHours: 24 };
const hook: SinkPolicy = { ...mail, name: "hook", repeatIntervalHours: 6 };
const failed = (n: number, certId = "www"): Routable => ({ type: "renewal.failed", certId, severity: "critical", error: `acme: attempt ${n}` });
const recovered: Routable = { type: "cert.recovered", certId: "www", severity: "info", error: null };

type Sent = Array<{ sink: string; type: string; send: Omit<Send, "claim"> }>;

/** Routes `e` to each sink, keeping what was sent (its claim aside: `undelivered` is tested on its own). */
async function routeAll(router: AlertRouter, e: Routable, sinks: SinkPolicy[], out: Sent) {
  for (const s of sinks) {
    const send = await router.route(e, s);
    if (send) out.push({ sink: s.name, type: e.type, send: { repeats: send.repeats, lastHeldError: send.lastHeldError } });
  }
}

test("1,000 failures over 25 hours: one alert, then one reminder per sink per repeat interval, counting what was held", async () => {
  const router = new AlertRouter(store, clock);
  const sent: Sent = [];
  const start = clock.now();
  for (let n = 1; n <= 1000; n++) {
    await routeAll(router, failed(n), [mail], sent);
    await clock.advance(90_000);
  }
  // Every 90 s: failure 961 is the first at or after 24 h.
  expect(sent).toEqual([
    { sink: "mail", type: "renewal.failed", send: { repeats: null, lastHeldError: null } },
    { sink: "mail", type: "renewal.failed", send: { repeats: { count: 960, since: new Date(start.getTime() + 90_000) }, lastHeldError: "acme: attempt 960" } },
  ]);
});

test("each sink keeps its own limit and interval; each cert its own", async () => {
  const router = new AlertRouter(store, clock);
  const sent: Sent = [];
  for (let n = 1; n <= 1000; n++) {
    await routeAll(router, failed(n), [mail, hook], sent);
    await clock.advance(86_400_000 / 1000);
  }
  await routeAll(router, failed(1001), [mail, hook], sent);
  expect(sent.filter((s) => s.sink === "mail").length).toBe(2);
  // At 0, 6, 12 and 18 hours, and at 24.
  expect(sent.filter((s) => s.sink === "hook").length).toBe(5);
  await routeAll(router, failed(1, "api"), [mail], sent);
  expect(sent.at(-1)).toEqual({ sink: "mail", type: "renewal.failed", send: { repeats: null, lastHeldError: null } });
});

test("cert.expiring shares the cert's limit with renewal.failed", async () => {
  const router = new AlertRouter(store, clock);
  expect(await router.route(failed(1), mail)).not.toBeNull();
  expect(await router.route({ type: "cert.expiring", certId: "www", severity: "critical", error: null }, mail)).toBeNull();
});

test("a recovery after a sent failure alert sends exactly one cert.recovered, and the next failure goes out at once", async () => {
  const router = new AlertRouter(store, clock);
  const sent: Sent = [];
  for (let n = 1; n <= 50; n++) await routeAll(router, failed(n), [mail], sent);
  await routeAll(router, recovered, [mail], sent);
  await routeAll(router, recovered, [mail], sent);
  await routeAll(router, failed(51), [mail], sent);
  expect(sent.map((s) => s.type)).toEqual(["renewal.failed", "cert.recovered", "renewal.failed"]);
});

test("a recovery with no failure alert sent to the sink sends nothing", async () => {
  const router = new AlertRouter(store, clock);
  const critical = { ...mail, minSeverity: "critical" as const };
  expect(await router.route({ ...failed(1), severity: "warning" }, critical)).toBeNull();
  expect(await router.route(recovered, critical)).toBeNull();
});

test("a sink not subscribed to cert.recovered gets none, but its limit resets", async () => {
  const router = new AlertRouter(store, clock);
  const failuresOnly = { ...mail, events: ["renewal.failed"] };
  expect(await router.route(failed(1), failuresOnly)).not.toBeNull();
  expect(await router.route(recovered, failuresOnly)).toBeNull();
  expect(await router.route(failed(2), failuresOnly)).not.toBeNull();
});

test("a restart in between (a new router on the same store) sends nothing new", async () => {
  const sent: Sent = [];
  for (let n = 1; n <= 10; n++) {
    await routeAll(new AlertRouter(store, clock), failed(n), [mail, hook], sent);
    await clock.advance(60_000);
  }
  await store.close();
  store = new SqliteAuditStore(join(dir, "rota.db"));
  for (let n = 11; n <= 20; n++) {
    await routeAll(new AlertRouter(store, clock), failed(n), [mail, hook], sent);
    await clock.advance(60_000);
  }
  expect(sent.map((s) => s.sink)).toEqual(["mail", "hook"]);
  await routeAll(new AlertRouter(store, clock), recovered, [mail, hook], sent);
  expect(sent.slice(2).map((s) => `${s.sink} ${s.type}`)).toEqual(["mail cert.recovered", "hook cert.recovered"]);
});

test("events a sink does not list, or below its min_severity, do not reach it; alert.test always does", async () => {
  const router = new AlertRouter(store, clock);
  expect(await router.route({ type: "renewal.succeeded", certId: "www", severity: "info", error: null }, mail)).toBeNull();
  expect(await router.route({ type: "renewal.succeeded", certId: "www", severity: "info", error: null }, { ...mail, events: ["renewal.succeeded"] })).toEqual({ repeats: null, lastHeldError: null, claim: null });
  expect(await router.route({ ...failed(1), severity: "warning" }, { ...mail, minSeverity: "critical" })).toBeNull();
  const test = { type: "alert.test", certId: null, severity: "info" as const, error: null };
  expect(await router.route(test, { ...mail, events: [], minSeverity: "critical" })).toEqual({ repeats: null, lastHeldError: null, claim: null });
  expect(await router.route(test, mail)).toEqual({ repeats: null, lastHeldError: null, claim: null });
});

test("standing: a failure alert unanswered by a recovery", async () => {
  const router = new AlertRouter(store, clock);
  expect(await router.standing("www", [mail, hook])).toBe(false);
  await router.route(failed(1), hook);
  expect(await router.standing("www", [mail, hook])).toBe(true);
  await router.route(recovered, hook);
  expect(await router.standing("www", [mail, hook])).toBe(false);
});

test("a failure alert that did not arrive starts no hold: the next failure goes out at once, and no recovery follows it", async () => {
  const router = new AlertRouter(store, clock);
  const first = await router.route(failed(1), hook);
  expect(first?.claim).toEqual({ sink: "hook", key: "www", sentAt: clock.now(), prior: null, error: "acme: attempt 1" });
  // Held while the first one is under way, as any other: it may yet arrive.
  await clock.advance(60_000);
  expect(await router.route(failed(2), hook)).toBeNull();
  await router.undelivered(first!.claim!);
  expect(await router.standing("www", [hook])).toBe(false);
  expect(await router.route(recovered, hook)).toBeNull();
  await clock.advance(60_000);
  const next = await router.route(failed(3), hook);
  expect(next).toMatchObject({ repeats: null, lastHeldError: null });
  // That one arrived: the hold runs from it.
  await clock.advance(60_000);
  expect(await router.route(failed(4), hook)).toBeNull();
});

test("a reminder that did not arrive is counted by the next one, which goes out at once; a restart keeps that", async () => {
  const start = clock.now();
  const router = new AlertRouter(store, clock);
  expect(await router.route(failed(1), hook)).not.toBeNull();
  for (let n = 2; n <= 4; n++) {
    await clock.advance(3_600_000);
    expect(await router.route(failed(n), hook)).toBeNull();
  }
  await clock.advance(3 * 3_600_000);
  const reminder = await router.route(failed(5), hook);
  expect(reminder).toMatchObject({ repeats: { count: 4, since: new Date(start.getTime() + 3_600_000) }, lastHeldError: "acme: attempt 4" });
  await clock.advance(10_000);
  expect(await router.route(failed(6), hook)).toBeNull();
  await router.undelivered(reminder!.claim!);
  const restarted = new AlertRouter(store, clock);
  await clock.advance(60_000);
  // 2, 3, 4 held, 5 sent but lost, 6 held while it was under way, and 7 itself.
  expect(await restarted.route(failed(7), hook)).toMatchObject({ repeats: { count: 6, since: new Date(start.getTime() + 3_600_000) }, lastHeldError: "acme: attempt 6" });
  expect(await restarted.standing("www", [hook])).toBe(true);
});

test("a plain alert after a quiet interval that did not arrive: the next goes out as a reminder counting it", async () => {
  const router = new AlertRouter(store, clock);
  expect(await router.route(failed(1), hook)).not.toBeNull();
  await clock.advance(7 * 3_600_000);
  const lost = await router.route(failed(2), hook);
  expect(lost).toMatchObject({ repeats: null });
  const lostAt = clock.now();
  await router.undelivered(lost!.claim!);
  await clock.advance(60_000);
  expect(await router.route(failed(3), hook)).toMatchObject({ repeats: { count: 2, since: lostAt }, lastHeldError: "acme: attempt 2" });
});

test("undelivered changes nothing once the limit has moved on: a recovery cleared it, or a later alert was sent", async () => {
  const router = new AlertRouter(store, clock);
  const first = await router.route(failed(1), hook);
  await router.route(recovered, hook);
  await router.undelivered(first!.claim!);
  expect(await store.alertLimit("hook", "www")).toBeNull();

  const short = { ...hook, repeatIntervalHours: 0.01 };
  const a = await router.route(failed(2), short);
  await clock.advance(60_000);
  const b = await router.route(failed(3), short);
  expect(b).not.toBeNull();
  await router.undelivered(a!.claim!);
  expect(await store.alertLimit("hook", "www")).toMatchObject({ lastSentAt: clock.now(), held: 0 });
});
