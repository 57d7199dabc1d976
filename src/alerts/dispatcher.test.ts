/** @module The dispatcher with a fake clock and fake sinks: retries and their backoff, Retry-After, noRetry, per-sink concurrency, the full queue, shutdown. */
import { expect, test } from "bun:test";
import { createConsola } from "consola";
import { SLOW_ANSWER_SECONDS } from "../api/serve-options.ts";
import type { Alert, Severity } from "../backends/types.ts";
import { RotaError } from "../errors.ts";
import type { AlertDelivery } from "../store/types.ts";
import { FakeClock, settle } from "../testing/fake-clock.ts";
import { FakeSink } from "../testing/fake-sink.ts";
import { DISPATCH_DEFAULTS, Dispatcher, directBoundMs, type DeliveryResult } from "./dispatcher.ts";

function setup(over: Partial<typeof DISPATCH_DEFAULTS> = {}) {
  const clock = new FakeClock();
  const records: AlertDelivery[] = [];
  const logged: string[] = [];
  const log = createConsola({ level: 3, reporters: [{ log: (o) => void logged.push(`${o.type}: ${o.args.join(" ")}`) }] });
  const store = { recordDelivery: async (d: AlertDelivery) => void records.push(d) };
  const dispatcher = new Dispatcher({ store, clock, log, ...DISPATCH_DEFAULTS, ...over });
  return { clock, records, logged, dispatcher };
}

let seq = 0;
const alert = (severity: Severity = "critical", type = "renewal.failed"): Alert => ({
  id: `alert-${++seq}`,
  type,
  severity,
  occurredAt: new Date("2030-01-01T00:00:00Z"),
  node: "nas",
  message: "Renewal of www failed: acme: down",
  cert: { id: "www", domains: ["www.example"], notAfter: null, daysLeft: null },
  renewal: null,
  next: null,
  repeats: null,
  url: null,
});

const brief = (r: AlertDelivery) => `${r.sink} ${r.outcome} ${r.attempts}${r.error ? ` ${r.error}` : ""}`;

test("a failing sink is tried 3 times, 5 s then 10 s apart, each attempt recorded; the same alert id each time", async () => {
  const { clock, records, dispatcher } = setup();
  const sink = new FakeSink("hook", [new RotaError("http", "hook: HTTP 500"), new RotaError("http", "hook: HTTP 502"), new RotaError("http", "hook: HTTP 503")]);
  const a = alert();
  dispatcher.enqueue(a, sink);
  await settle();
  expect(sink.attempts.length).toBe(1);
  await clock.advance(4_999);
  expect(sink.attempts.length).toBe(1);
  await clock.advance(1);
  expect(sink.attempts.length).toBe(2);
  await clock.advance(9_999);
  expect(sink.attempts.length).toBe(2);
  await clock.advance(1);
  expect(sink.attempts.length).toBe(3);
  await clock.advance(60_000);
  expect(sink.attempts.length).toBe(3);
  expect(new Set(sink.attempts.map((x) => x.id))).toEqual(new Set([a.id]));
  expect(records.map(brief)).toEqual(["hook retrying 1 hook: HTTP 500", "hook retrying 2 hook: HTTP 502", "hook failed 3 hook: HTTP 503"]);
  expect(records.every((r) => r.alertId === a.id && r.event === "renewal.failed" && r.certId === "www")).toBe(true);
});

test("500 then 200: one retry, delivered on the second attempt", async () => {
  const { clock, records, dispatcher } = setup();
  const sink = new FakeSink("hook", [new RotaError("http", "hook: HTTP 500")]);
  dispatcher.enqueue(alert(), sink);
  await settle();
  await clock.advance(5_000);
  expect(records.map(brief)).toEqual(["hook retrying 1 hook: HTTP 500", "hook delivered 2"]);
  expect(sink.delivered.length).toBe(1);
});

test("Retry-After is honoured, capped", async () => {
  const { clock, dispatcher } = setup();
  const sink = new FakeSink("hook", [new RotaError("http", "hook: HTTP 429", { retryAfterSeconds: 42 }), new RotaError("http", "hook: HTTP 429", { retryAfterSeconds: 86_400 })]);
  dispatcher.enqueue(alert(), sink);
  await settle();
  await clock.advance(41_999);
  expect(sink.attempts.length).toBe(1);
  await clock.advance(1);
  expect(sink.attempts.length).toBe(2);
  await clock.advance(299_999);
  expect(sink.attempts.length).toBe(2);
  await clock.advance(1);
  expect(sink.delivered.length).toBe(1);
});

test("a refusal for good (noRetry) is not retried", async () => {
  const { clock, records, dispatcher, logged } = setup();
  const sink = new FakeSink("mail", [new RotaError("smtp", "mail: 550 no such user", { noRetry: true })]);
  dispatcher.enqueue(alert(), sink);
  await settle();
  await clock.advance(60_000);
  expect(records.map(brief)).toEqual(["mail failed 1 mail: 550 no such user"]);
  expect(logged).toContain("error: renewal.failed to mail failed after 1 attempt(s): mail: 550 no such user");
});

test("an attempt with no answer times out and is retried", async () => {
  const { clock, records, dispatcher } = setup();
  const sink = new FakeSink("hook", ["hang"]);
  dispatcher.enqueue(alert(), sink);
  await settle();
  await clock.advance(30_000);
  expect(records.map(brief)).toEqual(["hook retrying 1 hook: no answer within 30s"]);
  await clock.advance(5_000);
  expect(sink.delivered.length).toBe(1);
});

test("each sink delivers one at a time, in order; a sink that hangs holds back only itself", async () => {
  const { clock, dispatcher } = setup();
  const slow = new FakeSink("slow", ["hang", "hang"]);
  const fast = new FakeSink("fast");
  const alerts = [alert(), alert(), alert()];
  for (const a of alerts) {
    dispatcher.enqueue(a, slow);
    dispatcher.enqueue(a, fast);
  }
  await settle();
  expect(fast.delivered.map((a) => a.id)).toEqual(alerts.map((a) => a.id));
  expect(slow.attempts.length).toBe(1);
  expect(slow.maxRunning).toBe(1);
  await clock.advance(35_000);
  expect(slow.attempts.length).toBe(2);
  expect(slow.maxRunning).toBe(1);
});

test("a full queue drops its oldest info first, logs it and records it as not sent; then the oldest of the next severity", async () => {
  const { records, logged, dispatcher } = setup({ capacity: 3 });
  const blocked = new FakeSink("mail", ["hang"]);
  dispatcher.enqueue(alert("critical"), blocked);
  await settle();
  const [c1, i1, i2, w1, c2] = [alert("critical"), alert("info", "cert.recovered"), alert("info", "cert.recovered"), alert("warning"), alert("critical")];
  for (const a of [c1, i1, i2, w1]) dispatcher.enqueue(a!, blocked);
  expect(records.map((r) => [r.alertId, r.outcome, r.error])).toEqual([[i1!.id, "not_sent", "dropped: the alert queue was full"]]);
  expect(logged).toContain("warn: queue full (3); dropped cert.recovered (info) for mail");
  dispatcher.enqueue(c2!, blocked);
  expect(records.map((r) => r.alertId)).toEqual([i1!.id, i2!.id]);
  dispatcher.enqueue(alert("critical"), blocked);
  expect(records.map((r) => r.alertId)).toEqual([i1!.id, i2!.id, w1!.id]);
});

test("shutdown gives pending deliveries the grace period, then records the rest as not sent", async () => {
  const { clock, records, dispatcher } = setup();
  const hung = new FakeSink("hook", ["hang"]);
  const later = alert();
  dispatcher.enqueue(alert(), hung);
  dispatcher.enqueue(later, hung);
  await settle();
  let stopped = false;
  const stopping = dispatcher.stop(1_000).then(() => (stopped = true));
  await clock.advance(999);
  expect(stopped).toBe(false);
  await clock.advance(1);
  await stopping;
  expect(records.map((r) => r.outcome).sort()).toEqual(["not_sent", "not_sent"]);
  expect(records.find((r) => r.alertId === later.id)).toMatchObject({ outcome: "not_sent", attempts: 0, error: "the daemon stopped before it was sent" });
  dispatcher.enqueue(alert(), hung);
  await settle();
  expect(records.at(-1)).toMatchObject({ outcome: "not_sent", error: "the daemon is stopping" });
});

test("shutdown with nothing pending returns at once; a delivery under way that finishes in time is delivered", async () => {
  const { records, dispatcher } = setup();
  const sink = new FakeSink("mail");
  dispatcher.enqueue(alert(), sink);
  await dispatcher.stop(1_000);
  expect(records.map(brief)).toEqual(["mail delivered 1"]);
});

test("deliver() bypasses the queue and resolves with the outcome after retries", async () => {
  const { clock, dispatcher } = setup();
  const sink = new FakeSink("hook", [new RotaError("http", "hook: HTTP 500"), new RotaError("http", "hook: HTTP 500"), new RotaError("http", "hook: HTTP 500")]);
  const result = dispatcher.deliver(alert("info", "alert.test"), sink);
  await settle();
  await clock.advance(5_000);
  await clock.advance(10_000);
  expect(await result).toEqual({ sink: "hook", outcome: "failed", error: "hook: HTTP 500", attempts: 3, partly: false });
  expect(await dispatcher.deliver(alert("info", "alert.test"), new FakeSink("mail"))).toEqual({ sink: "mail", outcome: "delivered", error: null, attempts: 1, partly: false });
});

test("whoever queued an alert is told how it ended, once: delivered, failed after its attempts, refused for good", async () => {
  const { clock, dispatcher } = setup();
  const told: string[] = [];
  const tell = (r: DeliveryResult) => void told.push(`${r.sink} ${r.outcome} ${r.attempts}`);
  dispatcher.enqueue(alert(), new FakeSink("mail"), tell);
  dispatcher.enqueue(alert(), new FakeSink("hook", [503, 503, 503].map((s) => new RotaError("http", `hook: HTTP ${s}`))), tell);
  dispatcher.enqueue(alert(), new FakeSink("slack", [new RotaError("http", "slack: HTTP 400", { noRetry: true })]), tell);
  await settle();
  expect(told.sort()).toEqual(["mail delivered 1", "slack failed 1"]);
  await clock.advance(15_000);
  expect(told.sort()).toEqual(["hook failed 3", "mail delivered 1", "slack failed 1"]);
  // Nothing more on its own: a failed alert is not sent again.
  await clock.advance(3_600_000);
  expect(told).toHaveLength(3);
});

test("an alert never sent is told too: dropped from a full queue, left at shutdown, queued while stopping", async () => {
  const { clock, dispatcher } = setup({ capacity: 1 });
  const told: string[] = [];
  const tell = (r: DeliveryResult) => void told.push(`${r.outcome} ${r.error}`);
  const blocked = new FakeSink("hook", ["hang"]);
  dispatcher.enqueue(alert("critical"), blocked, tell);
  await settle();
  dispatcher.enqueue(alert("info", "cert.recovered"), blocked, tell);
  dispatcher.enqueue(alert("critical"), blocked, tell);
  await settle();
  expect(told).toEqual(["not_sent dropped: the alert queue was full"]);
  const stopping = dispatcher.stop(1_000);
  await clock.advance(1_000);
  await stopping;
  expect(told.slice(1).sort()).toEqual(["not_sent the daemon stopped before it was sent", "not_sent the daemon stopped during attempt 1: hook: cancelled: alerts: the daemon is stopping"]);
  dispatcher.enqueue(alert(), blocked, tell);
  await settle();
  expect(told.at(-1)).toBe("not_sent the daemon is stopping");
});

test("deliver() answers within its bound: a Retry-After is honoured up to 10 s only, since someone waits", async () => {
  expect(directBoundMs(DISPATCH_DEFAULTS)).toBe(110_000);
  // The API lets a request wait this long for its answer, and a little longer.
  expect(directBoundMs(DISPATCH_DEFAULTS)).toBeLessThan(SLOW_ANSWER_SECONDS * 1000);
  const { clock, dispatcher } = setup();
  const sink = new FakeSink("hook", [new RotaError("http", "hook: HTTP 429", { retryAfterSeconds: 3_600 }), "hang", "hang"]);
  let result: DeliveryResult | undefined;
  void dispatcher.deliver(alert("info", "alert.test"), sink).then((r) => (result = r));
  await settle();
  await clock.advance(9_999);
  expect(sink.attempts.length).toBe(1);
  await clock.advance(1);
  expect(sink.attempts.length).toBe(2);
  await clock.advance(30_000 + 10_000 + 30_000);
  expect(result).toEqual({ sink: "hook", outcome: "failed", error: "hook: no answer within 30s", attempts: 3, partly: false });
});
