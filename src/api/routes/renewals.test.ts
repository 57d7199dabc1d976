/** @module `GET /api/renewals` in-process: the audit search's filters, keyset pages under concurrent inserts, and its 400s. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import type { Hono } from "hono";
import { EventBus, type Trigger } from "../../events.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import { SqliteAuditStore } from "../../store/sqlite.ts";
import type { RenewalStatus } from "../../store/types.ts";
import { FakeClock } from "../../testing/fake-clock.ts";
import { createApi } from "../app.ts";
import type { RenewalJson } from "../json.ts";
import type { Actions, CertSource, DaemonInfo } from "../ports.ts";

const clock = new FakeClock("2030-01-01T00:00:00Z");
const at = (minutes: number) => new Date(clock.now().getTime() + minutes * 60_000);

let dir: string;
let store: SqliteAuditStore;
let app: Hono;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-api-renewals-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  const configured = ["www", "api"].map((id) => ({ config: { id } }) as WatchedCert);
  app = createApi({
    version: "test",
    configFile: "/etc/rota/rota.toml",
    startedAt: clock.now(),
    certs: { find: (id: string) => configured.find((c) => c.config.id === id) } as CertSource,
    actions: {} as Actions,
    alerts: { sinkNames: () => [], test: async () => [] },
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

async function add(id: string, certId: string, minutes: number, trigger: Trigger, status: RenewalStatus): Promise<void> {
  await store.openRenewal({ id, certId, trigger, installOnly: false, reason: null, startedAt: at(minutes) });
  if (status !== "running") await store.closeRenewal(id, status, at(minutes + 1), status === "failed" ? "acme: boom" : null);
}

async function ids(query: string): Promise<string[]> {
  const res = await app.request(`/api/renewals?${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as RenewalJson[]).map((r) => r.id);
}

describe("filters", () => {
  beforeEach(async () => {
    await add("w1", "www", 0, "startup", "succeeded");
    await add("a1", "api", 10, "scheduled", "failed");
    await add("w2", "www", 20, "manual", "interrupted");
    await add("a2", "api", 30, "scheduled", "succeeded");
    await add("w3", "www", 40, "scheduled", "running");
  });

  test.each([
    ["", ["w3", "a2", "w2", "a1", "w1"]],
    ["cert=www", ["w3", "w2", "w1"]],
    ["status=failed", ["a1"]],
    ["status=failed,interrupted", ["w2", "a1"]],
    ["trigger=scheduled", ["w3", "a2", "a1"]],
    ["trigger=startup,manual&cert=www", ["w2", "w1"]],
    ["status=succeeded&trigger=scheduled", ["a2"]],
    ["since=2030-01-01T00:20:00Z", ["w3", "a2", "w2"]],
    ["until=2030-01-01T00:20:00Z", ["a1", "w1"]],
    ["since=2030-01-01T00:10:00Z&until=2030-01-01T00:30:00Z", ["w2", "a1"]],
    ["since=2030-01-01T02:10:00%2B02:00", ["w3", "a2", "a1", "w2"].filter((id) => id !== "a1" || true).slice(0, 0).concat(["w3", "a2", "w2", "a1"])],
    ["since=2030-01-01", ["w3", "a2", "w2", "a1", "w1"]],
    ["since=2030-01-02", []],
    ["cert=www&status=succeeded&since=2030-01-01T00:00:00.000Z&limit=1", ["w1"]],
  ])("?%s", async (query, expected) => {
    expect(await ids(query)).toEqual(expected);
  });

  test("each renewal still has its steps and ISO times", async () => {
    await store.addStep("a1", { step: "submit", at: at(10.5), status: "failed", message: "acme: boom", durationMs: 3 });
    const [a1] = (await (await app.request("/api/renewals?status=failed")).json()) as RenewalJson[];
    expect(a1).toMatchObject({ id: "a1", cert_id: "api", started_at: "2030-01-01T00:10:00.000Z", finished_at: "2030-01-01T00:11:00.000Z", error: "acme: boom" });
    expect(a1!.events).toEqual([{ step: "submit", at: "2030-01-01T00:10:30.000Z", status: "failed", message: "acme: boom", duration_ms: 3 }]);
  });
});

describe("keyset pages", () => {
  test("before= the last id seen walks every renewal once, newest first, while new ones arrive", async () => {
    for (let i = 0; i < 7; i++) await add(`r${i}`, i % 2 ? "www" : "api", i < 4 ? 5 : i * 10, "scheduled", "succeeded"); // r0..r3 start together
    const seen: string[] = [];
    let before = "";
    for (let pages = 0; pages < 10; pages++) {
      const page = await ids(`limit=3${before ? `&before=${before}` : ""}`);
      seen.push(...page);
      if (page.length < 3) break;
      before = page.at(-1)!;
      await add(`new${pages}`, "www", 100 + pages, "manual", "running"); // lands before the first page, shifts nothing
    }
    expect(seen).toEqual(["r6", "r5", "r4", "r3", "r2", "r1", "r0"]);
  });

  test("before combines with the filters", async () => {
    for (let i = 0; i < 6; i++) await add(`r${i}`, i % 2 ? "www" : "api", i * 10, "scheduled", "succeeded");
    expect(await ids("cert=www&limit=2")).toEqual(["r5", "r3"]);
    expect(await ids("cert=www&limit=2&before=r3")).toEqual(["r1"]);
    expect(await ids("cert=www&before=r4")).toEqual(["r3", "r1"]); // any renewal's id is a place in the order
  });

  test("an empty before is no cursor", async () => {
    await add("r1", "www", 0, "scheduled", "succeeded");
    expect(await ids("before=")).toEqual(["r1"]);
  });
});

describe("today's contract", () => {
  test("?cert=&limit= is the bare array; a cert neither configured nor audited is 404", async () => {
    await add("w1", "www", 0, "startup", "succeeded");
    await add("w2", "www", 1, "startup", "succeeded");
    expect(await ids("cert=www&limit=1")).toEqual(["w2"]);
    const res = await app.request("/api/renewals?cert=nope&status=failed");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'unknown cert "nope"' });
  });
});

describe("bad input", () => {
  test.each([
    ["status=done", "status must be one or more of running, succeeded, failed, interrupted, separated by commas"],
    ["status=failed,,running", "status must be one or more of running, succeeded, failed, interrupted, separated by commas"],
    ["trigger=cron", "trigger must be one or more of scheduled, manual, startup, reload, sync, separated by commas"],
    ["since=yesterday", "since must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31"],
    ["since=2030-01-01T00:00:00", "since must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31"],
    ["since=2030-02-30", "since must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31"],
    ["since=1893456000000", "since must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31"],
    ["until=2030-01-01T25:00:00Z", "until must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31"],
    ["since=2030-01-02&until=2030-01-01", "until must be later than since"],
    ["since=2030-01-01&until=2030-01-01", "until must be later than since"],
    ["cert=", "cert must be a cert id"],
    ["cert=&status=failed", "cert must be a cert id"],
    ["before=nope", "before must be the id of a renewal in the audit trail: the last one of the previous page"],
    ["limit=0&status=failed", "limit must be an integer from 1 to 1000"],
  ])("?%s is a 400 naming the parameter", async (query, error) => {
    const res = await app.request(`/api/renewals?${query}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error });
  });
});
