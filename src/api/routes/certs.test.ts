/** @module The cert routes in-process: searching, sorting and paging the list, its 400s, what the store is asked, the installed PEM; and the counts of `GET /api/status`, from the same statuses. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import type { Hono } from "hono";
import { EventBus } from "../../events.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import type { Decision } from "../../scheduler/due.ts";
import type { CertLook } from "../../scheduler/scheduler.ts";
import { SqliteAuditStore } from "../../store/sqlite.ts";
import type { AuditStore, IssuedCert } from "../../store/types.ts";
import { FakeClock } from "../../testing/fake-clock.ts";
import { createApi } from "../app.ts";
import type { CertJson, CertPageJson } from "../json.ts";
import type { ClusterPort } from "../../cluster/types.ts";
import type { RenewRequestResult } from "../../scheduler/scheduler.ts";
import type { Actions, ApiDeps, DaemonInfo } from "../ports.ts";

const DAY = 86_400_000;
const clock = new FakeClock("2030-01-01T00:00:00Z");
const inDays = (days: number) => new Date(clock.now().getTime() + days * DAY);

let dir: string;
let store: SqliteAuditStore;
let certs: WatchedCert[];
let looks: Map<string, CertLook>;
let busy: Set<string>;

function watched(id: string, domains: string[], install = ["files"]): WatchedCert {
  return {
    config: { id, domains, ca: "ca", dcv: undefined, install, keyPath: join("/nonexistent", id), keyType: "ecdsa-p256", keyRotation: "never", renewThresholdDays: undefined },
    installs: [],
  };
}

function look(decision: Decision | null): CertLook {
  return { decision, threshold: null, ari: null, error: decision ? null : "files: cannot read", targets: [], dueSince: decision?.action === "none" ? null : clock.now(), latestSerial: null };
}

function app(s: AuditStore = store, over: Partial<ApiDeps> = {}): Hono {
  const deps: ApiDeps = {
    version: "test",
    configFile: "/etc/rota/rota.toml",
    startedAt: clock.now(),
    certs: {
      certs: () => certs,
      find: (id) => certs.find((c) => c.config.id === id),
      look: (id) => looks.get(id),
      backendType: (surface, name) => (surface === "install" ? `type-of-${name}` : undefined),
      busy: (id) => busy.has(id),
      nextTickAt: () => null,
      checkIntervalSeconds: () => 3600,
      firstLooks: async () => {},
      installFailure: () => null,
    },
    actions: {} as Actions,
    alerts: { sinkNames: () => [], test: async () => [] },
    daemon: {} as DaemonInfo,
    store: s,
    bus: new EventBus(() => {}),
    clock,
    log: createConsola({ level: Number.NEGATIVE_INFINITY }),
    ...over,
  };
  return createApi(deps);
}

/**
 * Six certs, one of each status, in this config order:
 * alpha ok (60 days left), books cooldown (10), gamma missing (none), delta renewing (30),
 * echo checking (not looked at yet), fox failed (5).
 */
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-api-certs-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  certs = [
    watched("alpha", ["alpha.example.com", "www.alpha.example.com"]),
    watched("books", ["xn--bcher-kva.example"]),
    watched("gamma", ["gamma.example.net"]),
    watched("delta", ["delta.example.com"]),
    watched("echo", ["echo.example.com"]),
    watched("fox", ["fox.example.com"]),
  ];
  looks = new Map([
    ["alpha", look({ action: "none", why: "lifetime", moment: null, reason: "fine", notAfter: inDays(60), newest: inDays(60) })],
    ["books", look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: inDays(10) })],
    ["gamma", look({ action: "renew", why: "lifetime", moment: null, reason: "nothing installed", notAfter: null })],
    ["delta", look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: inDays(30) })],
    ["fox", look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: inDays(5) })],
  ]);
  busy = new Set(["delta"]);
  await store.putCertState({ certId: "books", consecutiveFailures: 1, retryAt: inDays(1), lastError: "acme: boom", authzFailures: 0, haltedAt: null });
  await store.putCertState({ certId: "fox", consecutiveFailures: 2, retryAt: inDays(-1), lastError: "acme: boom", authzFailures: 0, haltedAt: null });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The store, each call written down as `method(args as JSON)`. */
function recording(target: AuditStore, calls: string[]): AuditStore {
  return new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(`${String(prop)}(${args.map((a) => JSON.stringify(a)).join(", ")})`);
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

async function page(query: string, a = app()): Promise<CertPageJson> {
  const res = await a.request(`/api/certs?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as CertPageJson;
}

const ids = async (query: string) => (await page(query)).items.map((c) => c.id);

describe("GET /api/certs with a query", () => {
  test("without query parameters the reply stays the bare array of every cert, in config order", async () => {
    for (const path of ["/api/certs", "/api/certs?unrelated=1"]) {
      const body = (await (await app().request(path)).json()) as CertJson[];
      expect(body.map((c) => [c.id, c.status])).toEqual([
        ["alpha", "ok"],
        ["books", "cooldown"],
        ["gamma", "missing"],
        ["delta", "renewing"],
        ["echo", "checking"],
        ["fox", "failed"],
      ]);
    }
  });

  test("any of the parameters, even empty, makes it a page with the total", async () => {
    expect(await page("q=")).toMatchObject({ total: 6 });
    expect((await page("q=")).items).toHaveLength(6);
    const two = await page("limit=2");
    expect(two.total).toBe(6);
    expect(two.items.map((c) => c.id)).toEqual(["alpha", "books"]);
  });

  test("a page's items are the same objects as in the bare list", async () => {
    await store.openRenewal({ id: "r1", certId: "books", trigger: "manual", installOnly: false, reason: null, startedAt: clock.now() });
    await store.closeRenewal("r1", "failed", inDays(0.01), "acme: boom");
    const whole = (await (await app().request("/api/certs")).json()) as CertJson[];
    expect((await page("q=books")).items).toEqual([whole[1]!]);
    expect((await page("q=books")).items[0]!.last_renewal).toMatchObject({ id: "r1", status: "failed" });
  });

  test.each([
    ["q=ALPHA", ["alpha"]],
    ["q=www.alpha", ["alpha"]],
    ["q=b%C3%BCcher", ["books"]], // the U-label
    ["q=B%C3%9CCHER.EX", ["books"]],
    ["q=xn--bcher", ["books"]], // the A-label
    ["q=.net", ["gamma"]],
    ["q=example.com", ["alpha", "delta", "echo", "fox"]],
    ["q=nowhere", []],
  ])("%s finds the id or any name, A-label or U-label, whatever the case", async (query, expected) => {
    expect(await ids(query)).toEqual(expected);
    expect((await page(query)).total).toBe(expected.length);
  });

  test.each([
    ["status=ok", ["alpha"]],
    ["status=failed,cooldown", ["books", "fox"]],
    ["status=checking,renewing,missing", ["gamma", "delta", "echo"]],
    ["status=due", []],
    ["status=failed,cooldown&q=fox", ["fox"]],
  ])("%s keeps the certs with any of those statuses", async (query, expected) => {
    expect(await ids(query)).toEqual(expected);
  });

  test.each([
    ["sort=id", ["alpha", "books", "delta", "echo", "fox", "gamma"]],
    ["sort=id&order=desc", ["gamma", "fox", "echo", "delta", "books", "alpha"]],
    // No certificate counts as expiring first; the tie (echo, gamma) in id order either way.
    ["sort=not_after", ["echo", "gamma", "fox", "books", "delta", "alpha"]],
    ["sort=not_after&order=desc", ["alpha", "delta", "books", "fox", "echo", "gamma"]],
    ["sort=days_left", ["echo", "gamma", "fox", "books", "delta", "alpha"]],
    ["sort=status", ["fox", "books", "gamma", "delta", "echo", "alpha"]],
    ["sort=status&order=desc", ["alpha", "echo", "delta", "gamma", "books", "fox"]],
    ["order=desc", ["fox", "echo", "delta", "gamma", "books", "alpha"]],
    ["order=asc", ["alpha", "books", "gamma", "delta", "echo", "fox"]],
  ])("%s", async (query, expected) => {
    expect(await ids(query)).toEqual(expected);
  });

  test("limit and offset page through the sorted matches, the total counting them all", async () => {
    expect(await page("sort=id&limit=2&offset=2")).toMatchObject({ total: 6, items: [{ id: "delta" }, { id: "echo" }] });
    expect(await page("sort=id&limit=2&offset=5")).toMatchObject({ total: 6, items: [{ id: "gamma" }] });
    expect(await page("sort=id&offset=6")).toEqual({ total: 6, items: [] });
    expect(await page("status=failed,cooldown&sort=days_left&limit=1&offset=1")).toMatchObject({ total: 2, items: [{ id: "books" }] });
  });

  test("the default page is 100 certs", async () => {
    certs = Array.from({ length: 150 }, (_, i) => watched(`c${String(i).padStart(3, "0")}`, [`c${i}.example.com`]));
    const first = await page("sort=id");
    expect(first.total).toBe(150);
    expect(first.items).toHaveLength(100);
    expect(first.items.at(-1)!.id).toBe("c099");
    expect((await page("sort=id&limit=1000")).items).toHaveLength(150);
  });

  test.each([
    ["status=bogus", "status must be one or more of ok, due, renewing, cooldown, failed, halted, missing, checking, unreadable, separated by commas"],
    ["status=failed,", "status must be one or more of ok, due, renewing, cooldown, failed, halted, missing, checking, unreadable, separated by commas"],
    ["status=", "status must be one or more of ok, due, renewing, cooldown, failed, halted, missing, checking, unreadable, separated by commas"],
    ["sort=name", "sort must be one of id, not_after, days_left, status"],
    ["order=up", "order must be one of asc, desc"],
    ["limit=0", "limit must be an integer from 1 to 1000"],
    ["limit=1001", "limit must be an integer from 1 to 1000"],
    ["limit=2.5", "limit must be an integer from 1 to 1000"],
    ["limit=", "limit must be an integer from 1 to 1000"],
    ["offset=-1", "offset must be an integer from 0"],
    ["offset=1e3", "offset must be an integer from 0"],
  ])("%s is a 400 naming the parameter and what it takes", async (query, error) => {
    const res = await app().request(`/api/certs?${query}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error });
  });

  test("a page asks the store about its own certs and the unsettled ones, never about every cert", async () => {
    const calls: string[] = [];
    const watching = recording(store, calls);
    await page("sort=id&limit=2", app(watching));
    // The statuses of books, gamma and fox depend on their failure state (alpha is fine, delta renews, echo is unseen).
    expect(calls.sort()).toEqual(['certStates(["alpha","books"])', 'certStates(["books","gamma","fox"])', 'latestRenewals(["alpha","books"])']);
  });
});

describe("GET /api/status", () => {
  test("counts every status, asking the store only about the certs that need work", async () => {
    const calls: string[] = [];
    const watching = recording(store, calls);
    const res = await app(watching).request("/api/status");
    expect(await res.json()).toMatchObject({ certs: 6, by_status: { ok: 1, cooldown: 1, missing: 1, renewing: 1, checking: 1, failed: 1 } });
    // health() is no read: the store says from memory whether it is connected.
    expect(calls).toEqual(["health()", 'certStates(["books","gamma","fox"])']);
  });
});

describe("a halted cert", () => {
  test("has its own status, filter, count and first place by need of attention; a cert that is fine stays ok", async () => {
    await store.putCertState({ certId: "fox", consecutiveFailures: 5, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt: inDays(-0.5) });
    await store.putCertState({ certId: "alpha", consecutiveFailures: 5, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt: inDays(-0.5) });
    expect(await ids("status=halted")).toEqual(["fox"]);
    expect((await ids("sort=status"))[0]).toBe("fox");
    expect(await (await app().request("/api/status")).json()).toMatchObject({ by_status: { ok: 1, halted: 1, cooldown: 1 } });
  });

  test("GET /api/certs/{id} says since when and after how many authorization failures; 0 and null otherwise", async () => {
    await store.putCertState({ certId: "fox", consecutiveFailures: 6, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt: inDays(-0.5) });
    expect(await (await app().request("/api/certs/fox")).json()).toMatchObject({ status: "halted", authz_failures: 5, halted_at: inDays(-0.5).toISOString(), retry_at: null });
    expect(await (await app().request("/api/certs/books")).json()).toMatchObject({ status: "cooldown", authz_failures: 0, halted_at: null });
  });
});

describe("GET /api/certs/{id}/pem", () => {
  const LEAF = (serial: string) => `-----BEGIN CERTIFICATE-----\nleaf${serial}\n-----END CERTIFICATE-----\n`;
  const CHAIN = "-----BEGIN CERTIFICATE-----\nintermediate\n-----END CERTIFICATE-----\n";

  function issued(certId: string, serial: string, notAfterDays: number): IssuedCert {
    // Stored in the order of their serials, a second apart.
    const issuedAt = new Date(clock.now().getTime() + Number.parseInt(serial, 16) * 1000);
    return { certId, renewalId: `r-${serial}`, leafPem: LEAF(serial), chainPem: CHAIN, serial, notBefore: issuedAt, notAfter: inDays(notAfterDays), issuedAt };
  }

  test("the certificate installed on the cert's targets: leaf then chain, as a PEM file", async () => {
    await store.saveIssued(issued("alpha", "0a", 60));
    await store.saveInstalled({ certId: "alpha", target: "files", serial: "0a", installedAt: clock.now() });
    const res = await app().request("/api/certs/alpha/pem");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-pem-file");
    const text = await res.text();
    expect(text).toBe(LEAF("0a") + CHAIN);
    expect(text).not.toContain("PRIVATE KEY");
  });

  test("not a newer certificate that no target took, and of several targets the newest install", async () => {
    certs[0] = watched("alpha", ["alpha.example.com"], ["files", "nginx"]);
    await store.saveIssued(issued("alpha", "01", 90));
    await store.saveIssued(issued("alpha", "02", 60)); // stored after 01, though it expires sooner (a lifetime cut)
    await store.saveIssued(issued("alpha", "03", 90)); // its install failed everywhere
    await store.saveInstalled({ certId: "alpha", target: "files", serial: "01", installedAt: clock.now() });
    await store.saveInstalled({ certId: "alpha", target: "nginx", serial: "02", installedAt: clock.now() });
    expect(await (await app().request("/api/certs/alpha/pem")).text()).toBe(LEAF("02") + CHAIN);
  });

  test("a cert with nothing installed is a JSON 404", async () => {
    await store.saveIssued(issued("alpha", "0a", 60));
    const res = await app().request("/api/certs/alpha/pem");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'cert "alpha" has nothing installed yet' });
  });

  test.each([
    ["nope", "nope"],
    ["..%2f..%2fetc%2fpasswd", "../../etc/passwd"],
    ["alpha%00", "alpha\u0000"],
  ])("%s is only an unknown cert", async (raw, id) => {
    const res = await app().request(`/api/certs/${raw}/pem`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: `unknown cert ${JSON.stringify(id)}` });
  });
});

describe("GET /api/certs/{id}: targets", () => {
  const summary = (serial: string, days: number) => ({ serial, notBefore: clock.now(), notAfter: inDays(days), keyType: "ecdsa-p256" as const, names: ["alpha.example.com"] });

  test("what each target serves at the last look, whether it is the newest stored certificate, and why not", async () => {
    certs[0] = watched("alpha", ["alpha.example.com"], ["files", "nginx", "old", "nas", "new"]);
    await store.saveIssued({ certId: "alpha", renewalId: "r1", leafPem: "", chainPem: "", serial: "0b", notBefore: clock.now(), notAfter: inDays(60), issuedAt: clock.now() });
    looks.set("alpha", {
      ...look(null),
      error: "nas: permission denied",
      targets: [
        { target: "files", installed: summary("0b", 60) },
        { target: "nginx", installed: null, damaged: "privkey.pem is missing" },
        { target: "old", installed: summary("0a", 30) },
        { target: "nas", installed: null, error: "nas: permission denied" },
      ],
    });
    const res = await app().request("/api/certs/alpha");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.targets).toEqual([
      { name: "files", type: "type-of-files", serial: "0b", not_after: inDays(60).toISOString(), matches_latest: true, error: null },
      { name: "nginx", type: "type-of-nginx", serial: null, not_after: null, matches_latest: false, error: "damaged: privkey.pem is missing" },
      { name: "old", type: "type-of-old", serial: "0a", not_after: inDays(30).toISOString(), matches_latest: false, error: null },
      { name: "nas", type: "type-of-nas", serial: null, not_after: null, matches_latest: false, error: "nas: permission denied" },
      // Configured after the look (a reload): listed, nothing known yet.
      { name: "new", type: "type-of-new", serial: null, not_after: null, matches_latest: false, error: null },
    ]);
    // Every field the detail had before stays.
    expect(Object.keys(body).sort()).toEqual(
      [
        ...["ca", "days_left", "dcv", "domains", "domains_unicode", "due_since", "id", "install", "key_type", "last_renewal", "latest_issued", "look_error", "next_check", "not_after", "reason", "renew_threshold_days", "renew_threshold_source", "retry_at", "status", "targets"],
        ...["renew_at", "renew_reason", "ari_window", "lifetime_days", "profile", "ari"],
        ...["authz_failures", "halted_at"],
      ].sort(),
    );
  });
});

describe("POST /api/certs/{id}/renew in cluster mode", () => {
  const asked: Array<{ id: string; force: boolean; newKey: boolean }> = [];
  const actions = {
    renew: async (cert: WatchedCert, opts: { force: boolean; newKey: boolean }): Promise<RenewRequestResult> => {
      asked.push({ id: cert.config.id, ...opts });
      return { status: "started", renewalId: "r1", installOnly: false };
    },
  } as Actions;
  // Only its presence matters here: cluster mode is on.
  const cluster = { brief: () => ({ node_id: "nas-1", role: "leader", leader: "nas-1", term: 7 }) } as ClusterPort;
  const post = async (hono: Hono, path: string) => {
    const res = await hono.request(path, { method: "POST" });
    return { status: res.status, body: await res.json() };
  };

  test("--new-key is refused with the reason every_renewal is, and nothing is asked of the scheduler", async () => {
    asked.length = 0;
    const reply = { status: 409, body: { error: "--new-key cannot work in cluster mode: every node must hold the same key (see docs/federation.md)" } };
    expect(await post(app(store, { actions, cluster }), "/api/certs/alpha/renew?new_key=1")).toEqual(reply);
    expect(await post(app(store, { actions, cluster }), "/api/certs/alpha/renew?force=1&new_key=true")).toEqual(reply);
    expect(asked).toEqual([]);
  });

  test("an unknown cert is still 404; a renewal without a new key, and --new-key with cluster mode off, reach the scheduler", async () => {
    asked.length = 0;
    expect((await post(app(store, { actions, cluster }), "/api/certs/nope/renew?new_key=1")).status).toBe(404);
    expect(await post(app(store, { actions, cluster }), "/api/certs/alpha/renew?force=1")).toEqual({ status: 202, body: { status: "started", renewal_id: "r1", install_only: false } });
    expect((await post(app(store, { actions }), "/api/certs/alpha/renew?new_key=1")).status).toBe(202);
    expect(asked).toEqual([
      { id: "alpha", force: true, newKey: false },
      { id: "alpha", force: false, newKey: true },
    ]);
  });
});

// Last in the file: it moves the shared clock on.
describe("GET /api/certs: the whole list from cached rows", () => {
  /** The bare list, and the same certs built afresh (a page is never cached): they must agree after every change. */
  async function both(a: Hono): Promise<CertJson[]> {
    const res = await a.request("/api/certs");
    expect(res.headers.get("content-type")).toBe("application/json");
    const list = (await res.json()) as CertJson[];
    expect(list).toEqual((await page("limit=1000", a)).items);
    return list;
  }
  const of = (list: CertJson[], id: string) => list.find((c) => c.id === id)!;

  test("a renewal, a failure state, the runner, a new look, a reload and time passing show at once", async () => {
    const a = app();
    expect(of(await both(a), "fox").last_renewal).toBeNull();

    await store.openRenewal({ id: "r1", certId: "fox", trigger: "manual", installOnly: false, reason: null, startedAt: clock.now() });
    busy.add("fox");
    expect(of(await both(a), "fox")).toMatchObject({ status: "renewing", last_renewal: { id: "r1", status: "running" } });

    await store.closeRenewal("r1", "succeeded", clock.now(), null);
    await store.putCertState({ certId: "fox", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
    busy.delete("fox");
    looks.set("fox", look({ action: "none", why: "lifetime", moment: null, reason: "fine", notAfter: inDays(90), newest: inDays(90) }));
    expect(of(await both(a), "fox")).toMatchObject({ status: "ok", days_left: 90, last_renewal: { id: "r1", status: "succeeded" } });

    await store.putCertState({ certId: "books", consecutiveFailures: 3, retryAt: inDays(2), lastError: "acme: boom", authzFailures: 0, haltedAt: clock.now() });
    expect(of(await both(a), "books").status).toBe("halted");

    // A reload: one cert gone, one renamed in place, one new.
    certs = [watched("alpha", ["alpha.example.org"]), ...certs.filter((c) => !["alpha", "gamma"].includes(c.config.id)), watched("hotel", ["hotel.example.com"])];
    const reloaded = await both(a);
    expect(reloaded.map((c) => c.id)).toEqual(["alpha", "books", "delta", "echo", "fox", "hotel"]);
    expect(of(reloaded, "alpha").domains).toEqual(["alpha.example.org"]);

    // Half a day later: every days_left moved, books' cooldown (2 days) still runs.
    await clock.advance(DAY / 2);
    const later = await both(a);
    expect(of(later, "fox").days_left).toBe(89.5);
    // Past books' cooldown: halted stays halted; the retry time is gone.
    await clock.advance(2 * DAY);
    expect(of(await both(a), "books")).toMatchObject({ status: "halted", retry_at: null });
  });
});
