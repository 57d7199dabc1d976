/** @module The overview's data loader: the summary counts every cert while the table shows the searched, filtered, sorted page; the statuses are decided once per request. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { EventBus } from "../../events.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import type { Decision } from "../../scheduler/due.ts";
import type { CertLook } from "../../scheduler/scheduler.ts";
import { SqliteAuditStore } from "../../store/sqlite.ts";
import type { AuditStore } from "../../store/types.ts";
import { FakeClock } from "../../testing/fake-clock.ts";
import type { Actions, ApiDeps, DaemonInfo } from "../../api/ports.ts";
import { overviewData } from "./overview.tsx";

const DAY = 86_400_000;
const clock = new FakeClock("2030-01-01T00:00:00Z");
const inDays = (days: number) => new Date(clock.now().getTime() + days * DAY);

let dir: string;
let store: SqliteAuditStore;
let certs: WatchedCert[];
let looks: Map<string, CertLook>;

function watched(id: string, domain: string, ca: string): WatchedCert {
  return {
    config: { id, domains: [domain], ca, dcv: undefined, install: ["files"], keyPath: join("/nonexistent", id), keyType: "ecdsa-p256", keyRotation: "never", renewThresholdDays: undefined },
    installs: [],
  };
}

function look(decision: Decision): CertLook {
  return { decision, threshold: null, ari: null, error: null, dueSince: decision.action === "none" ? null : clock.now(), targets: [], latestSerial: null };
}

/** Every store call written down by name. */
function recording(target: AuditStore, calls: string[]): AuditStore {
  return new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

function deps(s: AuditStore): ApiDeps {
  return {
    version: "test",
    configFile: "/etc/rota/rota.toml",
    startedAt: clock.now(),
    certs: {
      certs: () => certs,
      find: () => {
        throw new Error("the overview takes its certs from the statuses, not by id");
      },
      look: (id) => looks.get(id),
      busy: () => false,
      nextTickAt: () => null,
      checkIntervalSeconds: () => 3600,
      firstLooks: async () => {},
      installFailure: () => null,
      backendType: () => undefined,
    },
    actions: {} as Actions,
    alerts: { sinkNames: () => [], test: async () => [] },
    daemon: {} as DaemonInfo,
    store: s,
    bus: new EventBus(() => {}),
    clock,
    log: createConsola({ level: Number.NEGATIVE_INFINITY }),
  };
}

/** alpha ok (60 days left, CA one), books failed (5), gamma missing, delta due (20, CA two). */
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-overview-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  certs = [watched("alpha", "alpha.example.com", "one"), watched("books", "books.example.org", "one"), watched("gamma", "gamma.example.net", "one"), watched("delta", "delta.example.com", "two")];
  looks = new Map([
    ["alpha", look({ action: "none", why: "lifetime", moment: null, reason: "fine", notAfter: inDays(60), newest: inDays(60) })],
    ["books", look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: inDays(5) })],
    ["gamma", look({ action: "renew", why: "lifetime", moment: null, reason: "nothing installed", notAfter: null })],
    ["delta", look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: inDays(20) })],
  ]);
  await store.putCertState({ certId: "books", consecutiveFailures: 2, retryAt: inDays(-1), lastError: "acme: boom", authzFailures: 0, haltedAt: null });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the summary counts every cert while the table holds the searched, filtered, sorted page", async () => {
  const d = await overviewData(deps(store), new URL("http://rota.test/?q=EXAMPLE.com&status=ok,due&sort=days_left"));
  expect(Object.fromEntries(d.counts)).toEqual({ ok: 1, failed: 1, missing: 1, due: 1 });
  expect(d.soonest).toEqual({ id: "books", notAfter: inDays(5).toISOString() });
  expect(d.configured).toBe(4);
  expect(d.page.total).toBe(2);
  expect(d.page.items.map((c) => [c.id, c.status])).toEqual([
    ["delta", "due"],
    ["alpha", "ok"],
  ]);
  expect([...d.certs].map(([id, c]) => [id, c.config.ca])).toEqual([
    ["delta", "two"],
    ["alpha", "one"],
  ]);
});

test("paging keeps the counts of every cert and the total of the matches", async () => {
  const d = await overviewData(deps(store), new URL("http://rota.test/?sort=id&order=desc&offset=3"));
  expect(d.page.total).toBe(4);
  expect(d.page.items.map((c) => c.id)).toEqual(["alpha"]);
  expect(d.counts.get("ok")).toBe(1);
});

test("the statuses are decided once a request: one read for the unsettled certs' state, then the page's two", async () => {
  const calls: string[] = [];
  await overviewData(deps(recording(store, calls)), new URL("http://rota.test/?status=failed"));
  expect(calls).toEqual(["certStates", "latestRenewals", "certStates"]);
});
