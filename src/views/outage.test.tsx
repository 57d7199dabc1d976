/** @module The dashboard's pages while the audit store's server is away: a page in the layout saying so, answered 503, never a 500 with a stack. */
import { expect, test } from "bun:test";
import { createConsola } from "consola";
import type { ApiDeps, CertSource } from "../api/ports.ts";
import { RotaError } from "../errors.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { AuditStore } from "../store/types.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { dashboardRoutes } from "./routes.tsx";

const MESSAGE = "audit: SurrealDB at ws://127.0.0.1:8000/rpc is not connected";
const logged: string[] = [];
const log = createConsola({ level: 5, reporters: [{ log: (o) => logged.push(o.args.join(" ")) }] });

/** Every call fails as a SurrealDB store's does during an outage. */
const away = new Proxy({} as AuditStore, {
  get: () => async () => {
    throw new RotaError("store_unavailable", MESSAGE, { cause: new Error("connection closed") });
  },
});

function pages() {
  const configured = [{ config: { id: "www", domains: ["www.example.com"], install: [] }, installs: [] } as unknown as WatchedCert];
  const certs = {
    certs: () => configured,
    find: (id: string) => configured.find((c) => c.config.id === id),
    // Due: its status needs the stored failure state, which the overview reads.
    look: () => ({ decision: { action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: new Date("2030-01-15T00:00:00Z") }, threshold: null, ari: null, error: null, targets: [], latestSerial: null, dueSince: null }),
    busy: () => false,
    installFailure: () => null,
  } as unknown as CertSource;
  return dashboardRoutes({ certs, store: away, clock: new FakeClock("2030-01-10T12:00:00Z"), log } as unknown as ApiDeps);
}

test.each(["/audit", "/renewals/r1", "/certs/www", "/"])("%s: 503, in the layout, in the store's words; nothing logged as a crash", async (path) => {
  logged.length = 0;
  const res = await pages().request(path);
  expect(res.status).toBe(503);
  expect(res.headers.get("content-type")).toContain("text/html");
  const html = await res.text();
  expect(html).toContain("<!DOCTYPE html>");
  expect(html).toContain(MESSAGE);
  expect(html).not.toContain("Internal Server Error");
  expect(logged.join("\n")).not.toContain("at ");
});

test("another failure is a 500 page that points at the log, and one log line with the path", async () => {
  logged.length = 0;
  const broken = { certs: { find: () => undefined }, store: { getRenewal: async () => Promise.reject(new Error("disk on fire")) }, clock: new FakeClock(), log } as unknown as ApiDeps;
  const res = await dashboardRoutes(broken).request("/renewals/r1");
  expect(res.status).toBe(500);
  const html = await res.text();
  expect(html).toContain("<!DOCTYPE html>");
  expect(html).not.toContain("disk on fire");
  expect(logged).toEqual([expect.stringContaining("GET /renewals/r1: disk on fire")]);
});
