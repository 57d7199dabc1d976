/**
 * The status page's cluster panel in a real headless Chromium: the dashboard app (the real
 * routes, pages, assets and event stream) served in-process with a fake `ClusterPort`,
 * since this branch has no cluster to start; `cluster.test.ts` drives the binary in a real
 * three-node cluster. Signed in with the token: the panel's facts and node rows, a leader
 * change shown live without a reload (the event stream re-fetches the panel), axe-core
 * light and dark, and no panel with `[cluster]` off.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createConsola } from "consola";
import { createApi } from "../../src/api/app.ts";
import { Sessions } from "../../src/api/auth/session.ts";
import type { ApiDeps, CertSource, DaemonInfo } from "../../src/api/ports.ts";
import { createTcpApp } from "../../src/api/tcp.tsx";
import { websocket } from "../../src/api/websocket.ts";
import { systemClock } from "../../src/clock.ts";
import { EventBus } from "../../src/events.ts";
import type { AuditStore } from "../../src/store/types.ts";
import { clusterReport, FakeClusterPort } from "../../src/testing/fake-cluster.ts";
import { assetRoutes, dashboardRoutes } from "../../src/views/routes.tsx";
import { launchBrowser, newContext, screenshot, seriousAxeViolations, type Browser, type BrowserContext, type Page } from "../harness/browser.ts";

setDefaultTimeout(60_000);

const TOKEN = `cluster-panel-${crypto.randomUUID()}`;
const port = new FakeClusterPort();
const bus = new EventBus(() => {});
let browser: Browser;
const servers: Array<ReturnType<typeof Bun.serve>> = [];

/** The dashboard on a loopback port, as the daemon's TCP listener serves it; `cluster` absent: `[cluster]` off. */
function serve(cluster: FakeClusterPort | undefined): string {
  const log = createConsola({ level: Number.NEGATIVE_INFINITY });
  const certs = { certs: () => [], find: () => undefined, checkIntervalSeconds: () => 3600, nextTickAt: () => null } as unknown as CertSource;
  const daemon: DaemonInfo = {
    settings: () => ({ socket: "/run/rota/rota.sock", stateDir: "/var/lib/rota", audit: { backend: "surrealdb", path: "wss://db.example.net/rpc", retentionDays: 400 }, maxConcurrentRenewals: 4 }),
    renewals: () => ({ running: 0, queued: 0 }),
    listener: () => null,
  };
  const store = { health: () => ({ backend: "surrealdb", connected: true, bufferedWrites: 0, droppedWrites: 0 }) } as unknown as AuditStore;
  const deps = { version: "0.2.0", configFile: "/etc/rota/rota.toml", startedAt: new Date(), certs, daemon, store, bus, clock: systemClock, log, ...(cluster ? { cluster } : {}) } as unknown as ApiDeps;
  const sessions = new Sessions(randomBytes(32), TOKEN, 12, systemClock);
  const app = createTcpApp(createApi(deps), { auth: () => ({ token: TOKEN, sessions, tls: false, publicOrigin: undefined }), pages: dashboardRoutes(deps), assets: assetRoutes(), clock: systemClock, log });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch, websocket });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

async function signedIn(origin: string, colorScheme: "light" | "dark" = "light"): Promise<BrowserContext> {
  const ctx = await newContext(browser, { baseURL: origin, colorScheme });
  const page = await ctx.newPage();
  await page.goto("/login");
  await page.getByLabel("API token").fill(TOKEN);
  await Promise.all([page.waitForURL(`${origin}/`), page.getByRole("button", { name: "Sign in" }).click()]);
  await page.close();
  return ctx;
}

/** Each node row's cells, as the reader sees them. */
async function nodeRows(page: Page): Promise<string[][]> {
  const rows = page.getByRole("table", { name: "The cluster's nodes, and what each has installed of each cert" }).locator("tbody tr");
  const out: string[][] = [];
  for (const row of await rows.all()) out.push((await row.locator("td").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim()));
  return out;
}

let on: string;
let off: string;

beforeAll(async () => {
  on = serve(port);
  off = serve(undefined);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(servers.map((s) => s.stop(true)));
});

test("the panel shows this node, the leader, the term and each node's heartbeat and per-cert install state", async () => {
  const ctx = await signedIn(on);
  const page = await ctx.newPage();
  await page.goto("/status");
  const panel = page.getByRole("region", { name: "Cluster" });
  await panel.waitFor();
  expect(await panel.locator("dl").innerText()).toContain("nas-2 (follower)");
  const rows = await nodeRows(page);
  expect(rows.map((r) => r.slice(0, 3))).toEqual([
    ["nas-1", "leader", "✓ yes"],
    ["nas-2", "follower", "✓ yes"],
    ["nas-3", "follower", "✕ no"],
  ]);
  expect(rows[2]![5]).toContain("refused");
  expect(rows[2]![5]).toContain("key_mismatch");
  await page.getByRole("link", { name: "www" }).first().waitFor();
  await ctx.close();
});

test("a leader change reaches the open page through the event stream, without a reload", async () => {
  port.report = clusterReport();
  const ctx = await signedIn(on);
  const page = await ctx.newPage();
  await page.goto("/status");
  await page.getByRole("status").filter({ hasText: /^live$/ }).waitFor();
  await page.evaluate(() => ((window as unknown as { rotaTestMark: boolean }).rotaTestMark = true));
  port.report = clusterReport({ node_id: "nas-2", role: "leader", term: 8, leader: { node_id: "nas-2", since: "2030-01-10T12:00:05.000Z", expires_at: "2030-01-10T12:00:35.000Z" } });
  bus.emit({ type: "cluster.leader_acquired", nodeId: "nas-2", term: 8, at: new Date() });
  const panel = page.getByRole("region", { name: "Cluster" });
  await panel.getByText("nas-2 (leader)").waitFor();
  expect(await panel.locator("dl").innerText()).toContain("8");
  expect(await page.evaluate(() => (window as unknown as { rotaTestMark?: boolean }).rotaTestMark === true)).toBe(true);
  await ctx.close();
  port.report = clusterReport();
});

test("axe-core finds nothing serious or critical on the status page with its cluster panel, light and dark; screenshots", async () => {
  const found: Record<string, unknown> = {};
  for (const scheme of ["light", "dark"] as const) {
    const ctx = await signedIn(on, scheme);
    const page = await ctx.newPage();
    await page.goto("/status");
    await page.getByRole("region", { name: "Cluster" }).waitFor();
    const v = await seriousAxeViolations(page);
    if (v.length > 0) found[scheme] = v;
    await screenshot(page, `status-cluster-${scheme}`);
    await ctx.close();
  }
  expect(found).toEqual({});
});

test("[cluster] off: no panel", async () => {
  const ctx = await signedIn(off);
  const page = await ctx.newPage();
  await page.goto("/status");
  await page.getByRole("heading", { name: "Status", level: 1 }).waitFor();
  expect(await page.getByRole("region", { name: "Cluster" }).count()).toBe(0);
  await ctx.close();
});
