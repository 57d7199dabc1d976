/** @module The HTTP API in-process (`app.request`): status codes for bad input and unknown ids, and the JSON shape of a cert. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import type { Hono } from "hono";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import type { Clock } from "../clock.ts";
import { testConfig } from "../testing/config.ts";
import { clockReading } from "../testing/fake-clock.ts";
import { createCsr } from "../crypto/csr.ts";
import { loadOrCreateKey } from "../crypto/keys.ts";
import { summarizeCert } from "../crypto/summary.ts";
import { RotaError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import { runRenewal, type RunRequest } from "../pipeline/renewer.ts";
import type { CertRuntime } from "../pipeline/runtime.ts";
import { singleNode } from "../scheduler/leadership.ts";
import { Runner } from "../scheduler/runner.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { actions, certSource, daemonInfo } from "../daemon/api-ports.ts";
import type { ReloadResult } from "../daemon/daemon.ts";
import type { AuditStore } from "../store/types.ts";
import { createApi } from "./app.ts";
import type { ApiDeps } from "./ports.ts";

const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

let dir: string;
let store: SqliteAuditStore;
let runner: Runner;
let scheduler: Scheduler;
let cert: CertRuntime;
let app: Hono;
let bus: EventBus;
let now: Date;
const clock: Clock = clockReading(() => now);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-api-"));
  now = new Date("2030-01-01T00:00:00Z");
  store = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus(() => {});
  const journal = new ChallengeJournal(dir);
  cert = {
    config: {
      id: "www",
      domains: ["www.example.com"],
      ca: "internal",
      dcv: undefined,
      install: ["files"],
      keyPath: join(dir, "keys", "www.key"),
      keyType: "ecdsa-p256",
      keyRotation: "never",
      renewThresholdDays: undefined,
    },
    ca: createLocalCa("internal", { validityDays: 1, commonName: undefined }, { stateDir: dir, clock }),
    dcv: undefined,
    installs: [createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined })],
  };
  const execute = (req: RunRequest) => runRenewal(cert, req, { store, bus, clock, journal });
  runner = new Runner({ store, bus, clock, log: silent }, { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 2, timeoutSeconds: 1800 });
  const config = testConfig(dir, [cert.config]);
  scheduler = new Scheduler({ runner, store, bus, clock, leadership: singleNode, journal, log: silent }, { config, certs: [cert], dcvs: new Map() });
  app = api({ reload: async () => ({ ok: false, file: config.file, problems: ["not in this test"] }) });
});
/** The app over this file's scheduler and runner, with what a test swaps out. */
function api(o: Overrides): Hono {
  return createApi(deps(o));
}

interface Overrides {
  reload: () => Promise<ReloadResult>;
  runner?: Runner;
  store?: AuditStore;
  bus?: EventBus;
}

function deps(o: Overrides): ApiDeps {
  const r = o.runner ?? runner;
  return {
    version: "test",
    configFile: join(dir, "rota.toml"),
    startedAt: now,
    certs: certSource(scheduler, r),
    actions: actions(scheduler, r, o.reload),
    alerts: { sinkNames: () => [], test: async () => [] },
    daemon: daemonInfo(() => scheduler.watched().config, r, () => ({ origin: () => null })),
    store: o.store ?? store,
    bus: o.bus ?? bus,
    clock,
    log: silent,
  };
}

afterEach(async () => {
  await runner.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Issues and installs a one-day certificate for `www`, the way the pipeline would; returns its expiry. */
async function installOneDayCert(): Promise<Date> {
  const signal = new AbortController().signal;
  const key = loadOrCreateKey(cert.config.keyPath, cert.config.keyType).pem;
  const { order } = await cert.ca.submit({ certId: "www", domains: cert.config.domains, csrPem: await createCsr(cert.config.domains, key), preferredKinds: [] }, signal);
  const { leafPem, chainPem } = await cert.ca.awaitIssuance(order, signal);
  await cert.installs[0]!.install({ certId: "www", domains: cert.config.domains, leafPem, chainPem, privateKeyPem: key }, signal);
  return summarizeCert(leafPem).notAfter;
}

async function get(path: string): Promise<{ status: number; body: unknown }> {
  const res = await app.request(path);
  return { status: res.status, body: await res.json() };
}

describe("input and ids", () => {
  test.each(["0", "-1", "1001", "2.5", "ten"])("GET /api/renewals?limit=%s is 400", async (limit) => {
    expect(await get(`/api/renewals?limit=${limit}`)).toEqual({ status: 400, body: { error: "limit must be an integer from 1 to 1000" } });
  });

  test("GET /api/renewals with a good limit is 200", async () => {
    await store.openRenewal({ id: "r1", certId: "www", trigger: "manual", installOnly: false, reason: null, startedAt: now });
    const { status, body } = await get("/api/renewals?limit=1000");
    expect(status).toBe(200);
    expect((body as Array<{ id: string }>).map((r) => r.id)).toEqual(["r1"]);
  });

  test("an unknown renewal is 404", async () => {
    expect(await get("/api/renewals/nope")).toEqual({ status: 404, body: { error: "unknown renewal" } });
  });

  test("renewals of a cert neither configured nor in the audit are 404", async () => {
    expect(await get("/api/renewals?cert=nope")).toEqual({ status: 404, body: { error: 'unknown cert "nope"' } });
  });

  test("renewals of a cert no longer configured but still audited are listed", async () => {
    await store.openRenewal({ id: "old", certId: "gone", trigger: "scheduled", installOnly: false, reason: null, startedAt: now });
    const { status, body } = await get("/api/renewals?cert=gone");
    expect(status).toBe(200);
    expect(body).toEqual([
      { id: "old", cert_id: "gone", trigger: "scheduled", install_only: false, reason: null, node: null, status: "running", started_at: now.toISOString(), finished_at: null, error: null, events: [] },
    ]);
  });

  test("POST /api/certs/nope/renew is 404", async () => {
    const res = await app.request("/api/certs/nope/renew", { method: "POST" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'unknown cert "nope"' });
    expect(runner.busy("nope")).toBe(false);
  });

  test("GET /api/certs/nope is 404", async () => {
    expect(await get("/api/certs/nope")).toEqual({ status: 404, body: { error: 'unknown cert "nope"' } });
  });

  test("a renew request during a cooldown is 409 and starts nothing", async () => {
    const retryAt = new Date(now.getTime() + 900_000);
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt, lastError: "internal: boom", authzFailures: 0, haltedAt: null });
    const res = await app.request("/api/certs/www/renew", { method: "POST" });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ status: "cooldown", retry_at: retryAt.toISOString(), last_error: "internal: boom" });
    expect(runner.busy("www")).toBe(false);
  });

  const post = async (path: string) => {
    const res = await app.request(path, { method: "POST" });
    return { status: res.status, body: await res.json() };
  };

  test("a renew request for a halted cert is 409 with the halt; force=1 clears it and starts", async () => {
    const haltedAt = new Date(now.getTime() - 60_000);
    await store.putCertState({ certId: "www", consecutiveFailures: 5, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt });
    expect(await post("/api/certs/www/renew")).toEqual({
      status: 409,
      body: { status: "halted", halted_at: haltedAt.toISOString(), failures: 5, last_error: "acme: authorization invalid" },
    });
    expect(runner.busy("www")).toBe(false);
    expect(await post("/api/certs/www/renew?force=1")).toMatchObject({ status: 202, body: { status: "started" } });
    expect((await store.getCertState("www"))?.haltedAt).toBeNull();
  });

  test("new_key=1 starts a new order even when the cert is not due", async () => {
    cert.config.renewThresholdDays = 0.5; // the local CA here issues one-day certificates
    await installOneDayCert();
    expect(await post("/api/certs/www/renew")).toMatchObject({ status: 200, body: { status: "not_due" } });
    expect(await post("/api/certs/www/renew?new_key=1")).toMatchObject({ status: 202, body: { status: "started", install_only: false } });
  });

  test("new_key=1 waits out a cooldown unless forced", async () => {
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: new Date(now.getTime() + 900_000), lastError: "internal: boom", authzFailures: 0, haltedAt: null });
    expect(await post("/api/certs/www/renew?new_key=1")).toMatchObject({ status: 409, body: { status: "cooldown" } });
    expect(await post("/api/certs/www/renew?new_key=1&force=1")).toMatchObject({ status: 202, body: { status: "started", install_only: false } });
  });
});

describe("requests the API does not take", () => {
  test("a body over 64 KiB is 413, unread", async () => {
    const res = await app.request("/api/reload", { method: "POST", body: "x".repeat(64 * 1024 + 1), headers: { "content-length": String(64 * 1024 + 1) } });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: "request body over 64 KiB" });
  });

  test.each([
    ["GET", "/api/nope"],
    ["GET", "/api"],
    ["GET", "/api/certs/www/"],
    ["PUT", "/api/certs"],
    ["DELETE", "/api/certs"],
    ["PATCH", "/api/certs"],
    ["OPTIONS", "/api/certs"],
  ])("%s %s: no such route, a JSON 404", async (method, path) => {
    const res = await app.request(path, { method });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: `no route ${method} ${path}` });
  });

  test("a path that climbs out is only an unknown cert", async () => {
    const res = await app.request("/api/certs/..%2f..%2fetc%2fpasswd");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'unknown cert "../../etc/passwd"' });
  });

  test("a failing store is a 500 with one log line, not a crash", async () => {
    const lines: string[] = [];
    const log = createConsola({ level: 0, reporters: [{ log: (o) => lines.push(o.args.join(" ")) }] });
    const broken = new Proxy(store, { get: (t, p) => (p === "latestRenewals" ? () => Promise.reject(new Error("disk on fire")) : (Reflect.get(t, p) as unknown)) });
    const res = await createApi({ ...deps({ reload: async () => ({ ok: false, file: "", problems: [] }) }), store: broken, log }).request("/api/certs");
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "internal error; the daemon's log has the cause" });
    expect(lines).toEqual(["api: GET /api/certs: disk on fire"]);
  });
});

describe("GET /api/certs", () => {
  test("each entry has exactly the documented keys", async () => {
    await scheduler.refresh(cert);
    const { status, body } = await get("/api/certs");
    expect(status).toBe(200);
    const entries = body as Array<Record<string, unknown>>;
    expect(entries).toHaveLength(1);
    expect(Object.keys(entries[0]!).sort()).toEqual(["ari_window", "days_left", "domains", "domains_unicode", "due_since", "id", "last_renewal", "look_error", "next_check", "not_after", "renew_at", "renew_reason", "retry_at", "status", "targets"]);
    expect(entries[0]).toEqual({
      id: "www",
      domains: ["www.example.com"],
      domains_unicode: ["www.example.com"],
      status: "missing",
      not_after: null,
      days_left: null,
      renew_at: null,
      renew_reason: "missing",
      ari_window: null,
      next_check: null,
      retry_at: null,
      due_since: now.toISOString(),
      last_renewal: null,
      look_error: null,
      targets: [{ name: "files", type: null, serial: null, not_after: null, matches_latest: false, error: null }],
    });
  });

  test("a cert expiring in one hour has 0.04 days left and is due", async () => {
    const notAfter = await installOneDayCert();
    now = new Date(notAfter.getTime() - 3_600_000);
    await scheduler.refresh(cert);
    const { body } = await get("/api/certs");
    expect((body as unknown[])[0]).toMatchObject({ id: "www", status: "due", not_after: notAfter.toISOString(), days_left: 0.04, renew_reason: "lifetime" });
  });

  test("a look that found nothing to do is judged against the clock: past its renewal moment with no look since, the cert is due from that moment, then expired", async () => {
    const notAfter = await installOneDayCert();
    await scheduler.refresh(cert);
    const first = (await get("/api/certs")).body as { status: string; renew_at: string }[];
    expect(first[0]).toMatchObject({ status: "ok", due_since: null });
    const renewAt = first[0]!.renew_at;
    now = new Date(Date.parse(renewAt) + 1000);
    expect(((await get("/api/certs")).body as unknown[])[0]).toMatchObject({ status: "due", due_since: renewAt });
    expect(((await get("/api/certs?status=due")).body as { total: number }).total).toBe(1);
    now = new Date(notAfter.getTime() + 1000);
    expect(((await get("/api/certs")).body as unknown[])[0]).toMatchObject({ status: "due", due_since: renewAt, not_after: notAfter.toISOString() });
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: new Date(now.getTime() + 900_000), lastError: "internal: boom", authzFailures: 0, haltedAt: null });
    expect(((await get("/api/certs")).body as unknown[])[0]).toMatchObject({ status: "cooldown" });
    expect((await get("/api/status")).body).toMatchObject({ by_status: { cooldown: 1 } });
  });

  test("a cooldown shows its retry time and the last renewal's summary", async () => {
    await store.openRenewal({ id: "r1", certId: "www", trigger: "manual", installOnly: false, reason: null, startedAt: now });
    await store.closeRenewal("r1", "failed", new Date(now.getTime() + 1000), "internal: boom");
    const retryAt = new Date(now.getTime() + 900_000);
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt, lastError: "internal: boom", authzFailures: 0, haltedAt: null });
    await scheduler.refresh(cert);
    const { body } = await get("/api/certs");
    expect((body as unknown[])[0]).toMatchObject({
      status: "cooldown",
      retry_at: retryAt.toISOString(),
      last_renewal: { id: "r1", trigger: "manual", status: "failed", started_at: now.toISOString(), finished_at: new Date(now.getTime() + 1000).toISOString(), error: "internal: boom" },
    });
  });
});

describe("renewals in flight", () => {
  test("a renew request while the cert renews is 409 with the running renewal's id", async () => {
    const first = await app.request("/api/certs/www/renew?force=1", { method: "POST" });
    const { renewal_id } = (await first.json()) as { renewal_id: string };
    const second = await app.request("/api/certs/www/renew?force=1", { method: "POST" });
    expect(second.status).toBe(409);
    expect(await second.json()).toEqual({ status: "busy", renewal_id });
    await runner.current("www")?.done;
  });

  test("the step stream ends even when the store closes the row after the renewal's last event", async () => {
    // An async store: the closing write lands a while after the event that causes it.
    const slow = new Proxy(store, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (prop !== "closeRenewal" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
        return (...args: unknown[]) => Bun.sleep(200).then(() => (value as (...a: unknown[]) => Promise<void>).apply(target, args));
      },
    });
    const bus = new EventBus(() => {});
    subscribeAudit(bus, slow);
    const journal = new ChallengeJournal(dir);
    const slowRunner = new Runner({ store: slow, bus, clock, log: silent }, { execute: (req) => runRenewal(cert, req, { store: slow, bus, clock, journal }), policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800 });
    const slowApp = api({ runner: slowRunner, store: slow, bus, reload: async () => ({ ok: false, file: "", problems: [] }) });
    const run = slowRunner.start(cert, "manual")!;
    await run.done;
    const res = await slowApp.request(`/api/renewals/${run.renewalId}/events`);
    const text = await res.text();
    expect(text).toContain("event: end");
    expect(text).toContain('"status":"succeeded"');
    await bus.drain();
  });
});

test("the step stream during an outage of the audit store: live steps still come, and it ends with an error event in the store's words, logging no stack", async () => {
  const away = new RotaError("store_unavailable", "audit: SurrealDB at ws://db.test/rpc is not connected");
  let down = false;
  const lines: string[] = [];
  const log = createConsola({ level: 5, reporters: [{ log: (o) => lines.push(o.args.map(String).join(" ")) }] });
  const flaky = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== "function") return value;
      if (prop === "getRenewal") return (...args: unknown[]) => (down ? Promise.reject(away) : (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      if (prop === "closeRenewal") return (...args: unknown[]) => Bun.sleep(200).then(() => (value as (...a: unknown[]) => Promise<void>).apply(target, args));
      return value.bind(target);
    },
  });
  const bus = new EventBus(() => {});
  subscribeAudit(bus, flaky);
  const journal = new ChallengeJournal(dir);
  const flakyRunner = new Runner({ store: flaky, bus, clock, log: silent }, { execute: (req) => runRenewal(cert, req, { store: flaky, bus, clock, journal }), policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 1, timeoutSeconds: 1800 });
  const flakyApp = createApi({ ...deps({ runner: flakyRunner, store: flaky, bus, reload: async () => ({ ok: false, file: "", problems: [] }) }), log });
  const run = flakyRunner.start(cert, "manual")!;
  down = true;
  const res = await flakyApp.request(`/api/renewals/${run.renewalId}/events`);
  const text = await res.text();
  await run.done;
  expect(text).toContain("event: step");
  expect(text).not.toContain("event: end");
  expect(text.trimEnd().endsWith(`event: error\ndata: ${JSON.stringify({ error: away.message })}`)).toBe(true);
  expect(lines).toEqual([]);
  await bus.drain();
});

describe("POST /api/reload", () => {
  test("answers what the daemon's reload did", async () => {
    const reloaded = api({
      reload: async () => ({ ok: true, summary: "+1 cert", added: ["api"], removed: [], changed: [], backendsChanged: [], settingsChanged: [], restartRequired: ["daemon.socket"] }),
    });
    const res = await reloaded.request("/api/reload", { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "reloaded",
      summary: "+1 cert",
      added: ["api"],
      removed: [],
      changed: [],
      backends_changed: [],
      settings_changed: [],
      restart_required: ["daemon.socket"],
    });
  });

  test("a broken config is 422 with every problem", async () => {
    const res = await app.request("/api/reload", { method: "POST" });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ status: "invalid", error: `config ${join(dir, "rota.toml")} is not valid; the daemon keeps running on the previous one`, problems: ["not in this test"] });
  });
});

describe("the audit store away (a SurrealDB store's outage)", () => {
  /** The file's store, as a server store answers during an outage: no reads, its health says so. */
  function awayStore(): AuditStore {
    const down = () => Promise.reject(new RotaError("store_unavailable", "audit: SurrealDB at wss://db.example.net/rpc is not connected"));
    return new Proxy(store, {
      get(target, prop) {
        if (prop === "health") return () => ({ backend: "surrealdb", connected: false, bufferedWrites: 7, droppedWrites: 0 });
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? down : v;
      },
    });
  }

  test("GET /api/status answers with the audit block and counts from the looks, without reading the store", async () => {
    app = api({ reload: async () => ({ ok: false, file: "", problems: [] }), store: awayStore() });
    const { status, body } = await get("/api/status");
    expect(status).toBe(200);
    expect(body).toMatchObject({ certs: 1, audit: { backend: "surrealdb", connected: false, buffered_writes: 7, dropped_writes: 0 } });
  });

  test("a cert whose certificate expired meanwhile is never ok: no look could be taken since (every sweep fails), so it is judged by the clock", async () => {
    const notAfter = await installOneDayCert();
    await scheduler.refresh(cert);
    expect((await get("/api/status")).body).toMatchObject({ by_status: { ok: 1 } });
    app = api({ reload: async () => ({ ok: false, file: "", problems: [] }), store: awayStore() });
    now = new Date(notAfter.getTime() + 60_000);
    expect((await get("/api/status")).body).toMatchObject({ by_status: { due: 1 } });
  });

  test("a route that reads the store answers 503 in the store's words", async () => {
    app = api({ reload: async () => ({ ok: false, file: "", problems: [] }), store: awayStore() });
    for (const path of ["/api/renewals", "/api/alerts", "/api/certs/www"]) {
      expect(await get(path)).toEqual({ status: 503, body: { error: "audit: SurrealDB at wss://db.example.net/rpc is not connected" } });
    }
  });

  test("on SQLite the audit block says connected, nothing buffered", async () => {
    expect((await get("/api/status")).body).toMatchObject({ audit: { backend: "sqlite", connected: true, buffered_writes: 0, dropped_writes: 0 } });
  });
});
