/**
 * @module What the cert views ask the store, counted at two fleet sizes and two history
 * lengths: the same few reads whatever the number of certs or of renewals, never a read per
 * cert, never a renewal's steps; and one cert's page reads that cert alone.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { EventBus } from "../events.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import type { AuditStore } from "../store/types.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { createApi } from "./app.ts";
import type { Actions, ApiDeps, DaemonInfo } from "./ports.ts";

const DAY = 86_400_000;
const clock = new FakeClock("2030-01-01T00:00:00Z");
const ROUTES = ["/api/certs", "/api/certs?sort=status&limit=20", "/api/status", "/api/certs/c0003"];

let dir: string;
let store: SqliteAuditStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-api-views-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const id = (i: number) => `c${String(i).padStart(4, "0")}`;

/** `n` certs, every third failing, each with `history` renewals of three steps. */
async function fleet(n: number, history: number): Promise<{ certs: WatchedCert[]; looks: Map<string, CertLook> }> {
  const certs: WatchedCert[] = [];
  const looks = new Map<string, CertLook>();
  for (let i = 0; i < n; i++) {
    const certId = id(i);
    certs.push({
      config: { id: certId, domains: [`${certId}.example.com`], ca: "ca", dcv: undefined, install: ["files"], keyPath: "/nonexistent", keyType: "ecdsa-p256", keyRotation: "never", renewThresholdDays: undefined },
      installs: [],
    });
    const failing = i % 3 === 0;
    const notAfter = new Date(clock.now().getTime() + (failing ? 5 : 60) * DAY);
    looks.set(certId, {
      decision: failing ? { action: "renew", why: "lifetime", moment: null, reason: "due", notAfter } : { action: "none", why: "lifetime", moment: null, reason: "fine", notAfter, newest: notAfter },
      threshold: null, ari: null,
      error: null,
      targets: [],
      latestSerial: null,
      dueSince: failing ? clock.now() : null,
    });
    if (failing) await store.putCertState({ certId, consecutiveFailures: 1, retryAt: null, lastError: "acme: boom", authzFailures: 0, haltedAt: null });
    for (let r = 0; r < history; r++) {
      const renewalId = `${certId}-r${r}`;
      await store.openRenewal({ id: renewalId, certId, trigger: "scheduled", installOnly: false, reason: null, startedAt: new Date(clock.now().getTime() - (history - r) * DAY) });
      for (const step of ["key", "csr", "submit"] as const) await store.addStep(renewalId, { step, at: clock.now(), status: "ok", message: step, durationMs: 1 });
      await store.closeRenewal(renewalId, "succeeded", clock.now(), null);
    }
  }
  return { certs, looks };
}

function app(s: AuditStore, certs: WatchedCert[], looks: Map<string, CertLook>) {
  const byId = new Map(certs.map((c) => [c.config.id, c]));
  const deps: ApiDeps = {
    version: "test",
    configFile: "/etc/rota/rota.toml",
    startedAt: clock.now(),
    certs: {
      certs: () => certs,
      find: (certId) => byId.get(certId),
      look: (certId) => looks.get(certId),
      backendType: () => "filesystem",
      busy: () => false,
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
  };
  return createApi(deps);
}

/** The store, each call written down as `describe` says. */
function recording(target: AuditStore, calls: string[], describe: (method: string, args: unknown[]) => string): AuditStore {
  return new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(describe(String(prop), args));
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

/** The store methods each route calls, sorted. */
async function callsPerRoute(n: number, history: number): Promise<Record<string, string[]>> {
  const { certs, looks } = await fleet(n, history);
  const calls: string[] = [];
  const api = app(recording(store, calls, (method) => method), certs, looks);
  const out: Record<string, string[]> = {};
  for (const route of ROUTES) {
    calls.length = 0;
    const res = await api.request(route);
    expect(res.status).toBe(200);
    out[route] = [...calls].sort();
  }
  return out;
}

test("the views ask the store the same few things for 6 certs or 600, with 1 renewal each or 8", async () => {
  const small = await callsPerRoute(6, 1);
  await store.close();
  rmSync(join(dir, "rota.db"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  const big = await callsPerRoute(600, 8);
  expect(big).toEqual(small);
  expect(small).toEqual({
    // The change stamp first: while it holds, the next list reads nothing else (list-reads.test.ts).
    "/api/certs": ["certStates", "changeStamp", "latestRenewals"],
    "/api/certs?sort=status&limit=20": ["certStates", "certStates", "latestRenewals"],
    "/api/status": ["certStates", "health"],
    "/api/certs/c0003": ["certStates", "latestIssued", "latestRenewals"],
  });
});

test("one cert's page reads that cert alone, and its latest renewal without steps", async () => {
  const { certs, looks } = await fleet(50, 3);
  const calls: string[] = [];
  const res = await app(recording(store, calls, (method, args) => `${method}(${JSON.stringify(args)})`), certs, looks).request("/api/certs/c0003");
  const body = (await res.json()) as { id: string; last_renewal: Record<string, unknown> };
  expect(body.id).toBe("c0003");
  expect(body.last_renewal).toMatchObject({ id: "c0003-r2", status: "succeeded" });
  expect(calls.sort()).toEqual(['certStates([["c0003"]])', 'latestIssued(["c0003"])', 'latestRenewals([["c0003"]])']);
});
