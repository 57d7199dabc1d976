/** @module The alert routes in-process: the delivery log newest first, a test alert's outcomes, and the 404s that name what is unknown. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import type { Hono } from "hono";
import { EventBus } from "../../events.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import { SqliteAuditStore } from "../../store/sqlite.ts";
import { FakeClock } from "../../testing/fake-clock.ts";
import { createApi } from "../app.ts";
import { SLOW_ANSWER_SECONDS } from "../serve-options.ts";
import type { Actions, AlertActions, CertSource, DaemonInfo } from "../ports.ts";

const clock = new FakeClock("2030-01-01T00:00:00Z");
let dir: string;
let store: SqliteAuditStore;
let app: Hono;
let asked: Array<{ sink: string | null; certId: string | null }>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-api-alerts-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  asked = [];
  const configured = [{ config: { id: "www" } } as WatchedCert];
  const alerts: AlertActions = {
    sinkNames: () => ["mail", "hook"],
    test: async (opts) => {
      asked.push(opts);
      return (opts.sink ? [opts.sink] : ["mail", "hook"]).map((sink) =>
        sink === "hook" ? { sink, outcome: "failed" as const, error: "hook: HTTP 500", attempts: 3, partly: false } : { sink, outcome: "delivered" as const, error: null, attempts: 1, partly: false },
      );
    },
  };
  app = createApi({
    version: "test",
    configFile: "/etc/rota/rota.toml",
    startedAt: clock.now(),
    certs: { find: (id: string) => configured.find((c) => c.config.id === id) } as CertSource,
    actions: {} as Actions,
    alerts,
    daemon: {} as DaemonInfo,
    store,
    bus: new EventBus(() => {}),
    clock,
    log: createConsola({ level: Number.NEGATIVE_INFINITY }),
  });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test("GET /api/alerts lists delivery attempts newest first, snake_case with ISO times, up to limit", async () => {
  for (let i = 0; i < 3; i++) {
    await store.recordDelivery({ alertId: `a${i}`, sink: "mail", event: "renewal.failed", certId: i === 2 ? null : "www", at: new Date(clock.now().getTime() + i * 1000), outcome: i === 1 ? "retrying" : "delivered", error: i === 1 ? "mail: 451 try later" : null, attempts: i + 1 });
  }
  const res = await app.request("/api/alerts?limit=2");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual([
    { alert_id: "a2", sink: "mail", event: "renewal.failed", cert_id: null, at: "2030-01-01T00:00:02.000Z", outcome: "delivered", error: null, attempts: 3 },
    { alert_id: "a1", sink: "mail", event: "renewal.failed", cert_id: "www", at: "2030-01-01T00:00:01.000Z", outcome: "retrying", error: "mail: 451 try later", attempts: 2 },
  ]);
  expect((await (await app.request("/api/alerts")).json()) as unknown[]).toHaveLength(3);
  expect(await (await app.request("/api/alerts?limit=0")).json()).toEqual({ error: "limit must be an integer from 1 to 1000" });
});

test("POST /api/alerts/test replies each sink's outcome; ?sink= and ?cert= narrow it", async () => {
  const all = await app.request("/api/alerts/test", { method: "POST" });
  expect(all.status).toBe(200);
  expect(await all.json()).toEqual([
    { sink: "mail", outcome: "delivered", error: null, attempts: 1 },
    { sink: "hook", outcome: "failed", error: "hook: HTTP 500", attempts: 3 },
  ]);
  await app.request("/api/alerts/test?sink=mail&cert=www", { method: "POST" });
  expect(asked).toEqual([
    { sink: null, certId: null },
    { sink: "mail", certId: "www" },
  ]);
});

test("an unknown sink or cert is a 404 saying which, and sends nothing", async () => {
  const sink = await app.request("/api/alerts/test?sink=pager", { method: "POST" });
  expect(sink.status).toBe(404);
  expect(await sink.json()).toEqual({ error: 'no alert sink named "pager" (configured: mail, hook)', unknown: "sink" });
  const cert = await app.request("/api/alerts/test?cert=nope", { method: "POST" });
  expect(cert.status).toBe(404);
  expect(await cert.json()).toEqual({ error: 'unknown cert "nope"', unknown: "cert" });
  expect(asked).toEqual([]);
});

test("a test alert's request may wait for its sinks' retries past Bun's 10 s: the route raises its own request's limit on the server", async () => {
  const raised: Array<[Request, number]> = [];
  const server = { timeout: (req: Request, seconds: number) => void raised.push([req, seconds]) };
  const req = new Request("http://rota/api/alerts/test", { method: "POST" });
  expect((await app.fetch(req, server)).status).toBe(200);
  expect(raised.map(([r, s]) => [r === req, s])).toEqual([[true, SLOW_ANSWER_SECONDS]]);
  // An unknown sink answers at once: nothing raised.
  await app.fetch(new Request("http://rota/api/alerts/test?sink=pager", { method: "POST" }), server);
  expect(raised).toHaveLength(1);
});
