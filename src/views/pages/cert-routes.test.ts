/** @module The cert and renewal pages in-process over a real scheduler, runner and store (local CA, filesystem target): render, 404, and Renew now's redirects. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { Hono } from "hono";
import type { ApiDeps, DaemonInfo } from "../../api/ports.ts";
import { Sessions } from "../../api/auth/session.ts";
import { createTcpApp, type TcpEnv } from "../../api/tcp.tsx";
import { createLocalCa } from "../../backends/ca/local/local-ca.ts";
import { createFilesystemInstall } from "../../backends/install/filesystem/filesystem.ts";
import type { Clock } from "../../clock.ts";
import { actions, certSource } from "../../daemon/api-ports.ts";
import { EventBus } from "../../events.ts";
import { ChallengeJournal } from "../../pipeline/journal.ts";
import { runRenewal, type RunRequest } from "../../pipeline/renewer.ts";
import type { CertRuntime } from "../../pipeline/runtime.ts";
import { singleNode } from "../../scheduler/leadership.ts";
import { Runner } from "../../scheduler/runner.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { subscribeAudit } from "../../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../../store/sqlite.ts";
import { testConfig } from "../../testing/config.ts";
import { clockReading } from "../../testing/fake-clock.ts";
import { clusterReport, FakeClusterPort } from "../../testing/fake-cluster.ts";
import { dashboardRoutes } from "../routes.tsx";

const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

let dir: string;
let store: SqliteAuditStore;
let bus: EventBus;
let runner: Runner;
let scheduler: Scheduler;
let cert: CertRuntime;
let pages: Hono<TcpEnv>;
let deps: ApiDeps;
let now: Date;
const clock: Clock = clockReading(() => now);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-pages-"));
  now = new Date();
  store = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus(() => {});
  subscribeAudit(bus, store);
  const journal = new ChallengeJournal(dir);
  cert = {
    config: {
      id: "www",
      domains: ["www.example.com", "xn--bcher-kva.example"],
      ca: "internal",
      dcv: undefined,
      install: ["files"],
      keyPath: join(dir, "keys", "www.key"),
      keyType: "ecdsa-p256",
      keyRotation: "never",
      // The local CA here issues one-day certificates: a fresh one is not due.
      renewThresholdDays: 0.5,
    },
    ca: createLocalCa("internal", { validityDays: 1, commonName: undefined }, { stateDir: dir, clock }),
    dcv: undefined,
    installs: [createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined })],
  };
  const execute = (req: RunRequest) => runRenewal(cert, req, { store, bus, clock, journal });
  runner = new Runner({ store, bus, clock, log: silent }, { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 2, timeoutSeconds: 1800 });
  const config = { ...testConfig(dir, [cert.config]), cas: [{ name: "internal", type: "local", options: {} }], installs: [{ name: "files", type: "filesystem", options: {}, verifyServed: null }] };
  scheduler = new Scheduler({ runner, store, bus, clock, leadership: singleNode, journal, log: silent }, { config, certs: [cert], dcvs: new Map() });
  deps = {
    version: "test",
    configFile: config.file,
    startedAt: now,
    certs: certSource(scheduler, runner),
    actions: actions(scheduler, runner, async () => ({ ok: false, file: config.file, problems: [] })),
    alerts: { sinkNames: () => [], test: async () => [] },
    daemon: {} as DaemonInfo,
    store,
    bus,
    clock,
    log: silent,
  };
  pages = dashboardRoutes(deps);
});

afterEach(async () => {
  await scheduler.stop();
  await runner.stop();
  await bus.drain();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string): Promise<{ status: number; html: string }> {
  const res = await pages.request(path);
  return { status: res.status, html: await res.text() };
}

async function post(path: string, form: Record<string, string> = {}): Promise<Response> {
  return pages.request(path, { method: "POST", body: new URLSearchParams(form), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
}

/** Renew now, forced, and waits for the renewal and the scheduler's look after it; returns the redirect's target. */
async function renewed(): Promise<string> {
  const res = await post("/certs/www/renew", { force: "1" });
  expect(res.status).toBe(303);
  await runner.current("www")?.done;
  await scheduler.idle();
  await bus.drain();
  return res.headers.get("Location")!;
}

describe("/certs/:id", () => {
  test("a cert never issued renders its empty states", async () => {
    await scheduler.refresh(cert);
    const { status, html } = await get("/certs/www");
    expect(status).toBe(200);
    expect(html).toContain("<h1>www</h1>");
    expect(html).toContain('<span class="badge missing">missing</span>');
    expect(html).toContain("Nothing issued yet");
    expect(html).toContain("No renewals yet.");
    expect(html).toContain("bücher.example");
    expect(html).toContain("internal <span class=\"muted\">local</span>");
  });

  test("after a renewal: the certificate's facts, the target serving it, the renewal in the history", async () => {
    const location = await renewed();
    const issued = (await store.latestIssued("www"))!;
    const { status, html } = await get("/certs/www");
    expect(status).toBe(200);
    expect(html).toContain('<span class="badge ok">ok</span>');
    expect(html).toContain(`<dd class="mono" id="issued-serial">${issued.serial}</dd>`);
    expect(html).toMatch(/<tr data-target="files"><td>files <span class="muted">filesystem<\/span><\/td><td><span class="mono">[0-9a-f]+<\/span><\/td>[\s\S]*?✓ yes/);
    expect(html).toContain(`<a href="${location}">`);
    expect(html).toContain('<span class="badge succeeded">succeeded</span>');
    expect(html).toMatch(/<dt>SHA-256<\/dt><dd class="mono">([0-9A-F]{2}:){31}[0-9A-F]{2}<\/dd>/);
  });

  test("an unknown cert is a 404 page in the layout", async () => {
    const { status, html } = await get("/certs/nope%3Cb%3E");
    expect(status).toBe(404);
    expect(html).toContain("<h1>Unknown certificate</h1>");
    expect(html).toContain("No certificate <code>nope&lt;b&gt;</code> is configured.");
    expect(html).toContain('<nav aria-label="Main">');
    expect((await post("/certs/nope/renew")).status).toBe(404);
  });

  test("a history cursor that is not this cert's falls back to the newest page, saying so", async () => {
    await store.openRenewal({ id: "other", certId: "api", trigger: "manual", installOnly: false, reason: null, startedAt: now });
    const { status, html } = await get("/certs/www?before=other");
    expect(status).toBe(200);
    expect(html).toContain("That page of the history is gone");
    // A cursor that names no renewal at all says the same (tester's `?before=bogus`).
    expect((await get("/certs/www?before=bogus")).html).toContain('<p class="error-box">That page of the history is gone (pruned, or not this cert&#39;s): showing the newest renewals.</p>');
  });
});

describe("Renew now", () => {
  test("starts a renewal and redirects 303 to its page, which shows its steps", async () => {
    const location = await renewed();
    expect(location).toMatch(/^\/renewals\/[a-z0-9]+-[0-9a-f]{12}$/);
    const { status, html } = await get(location);
    expect(status).toBe(200);
    expect(html).toContain('<dd id="renewal-status"><span class="badge succeeded">succeeded</span></dd>');
    expect(html).toContain('data-step="install"');
    expect(html).toContain('<a href="/certs/www">www</a>');
  });

  test("when not due: back to the cert with the reason shown by the buttons", async () => {
    await renewed();
    const res = await post("/certs/www/renew");
    expect(res.status).toBe(303);
    expect(res.headers.get("Location")).toBe("/certs/www?renew=not_due#actions");
    const { html } = await get("/certs/www?renew=not_due");
    expect(html).toMatch(/Not started: it is not due \(ok: \d\.\d\d days left, renew at \S+Z \((lifetime rule|threshold 0\.5 days \(cert\))\)\)/);
    expect(runner.busy("www")).toBe(false);
  });

  test("during a cooldown: back to the cert, saying until when", async () => {
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: new Date(now.getTime() + 900_000), lastError: "internal: boom", authzFailures: 0, haltedAt: null });
    const res = await post("/certs/www/renew");
    expect(res.headers.get("Location")).toBe("/certs/www?renew=cooldown#actions");
    const { html } = await get("/certs/www?renew=cooldown");
    expect(html).toContain("Not started: the cert is cooling down after a failed renewal until");
    expect(html).toContain('<p class="error-box">internal: boom</p>');
  });

  test("halted: back to the cert, saying why and what clears it; the confirmed force clears it and starts", async () => {
    await store.putCertState({ certId: "www", consecutiveFailures: 5, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt: now });
    const res = await post("/certs/www/renew");
    expect(res.headers.get("Location")).toBe("/certs/www?renew=halted#actions");
    const { html } = await get("/certs/www?renew=halted");
    expect(html).toContain("Not started: renewals stopped after 5 authorization failures in a row.");
    expect(runner.busy("www")).toBe(false);
    await renewed();
    expect((await store.getCertState("www"))?.haltedAt).toBeNull();
  });
});

describe("Renew now on a cluster follower", () => {
  /** The pages of a node that follows: its scheduler refuses, naming the leader it last saw (none: `leader` null). */
  function follower(leader: { nodeId: string; term: number } | null): Hono<TcpEnv> {
    const lease = leader && { ...leader, since: now, expiresAt: new Date(now.getTime() + 30_000) };
    const leadership = { isLeader: () => false, fence: () => null, leader: () => lease };
    const following = new Scheduler({ runner, store, bus, clock, leadership, journal: new ChallengeJournal(dir), log: silent }, scheduler.watched());
    const report = clusterReport(leader ? {} : { leader: null });
    return dashboardRoutes({ ...deps, actions: actions(following, runner, deps.actions.reload), cluster: new FakeClusterPort(report) });
  }

  test("back to the cert, naming the leader to renew on; nothing started", async () => {
    const pages = follower({ nodeId: "nas-1", term: 7 });
    const res = await pages.request("/certs/www/renew", { method: "POST", body: new URLSearchParams({ force: "1" }), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    expect(res.headers.get("Location")).toBe("/certs/www?renew=not_leader#actions");
    const html = await (await pages.request("/certs/www?renew=not_leader")).text();
    expect(html).toContain('id="renew-refused"');
    expect(html).toContain("Not started: nas-2 is a follower; renewals run on the leader nas-1 (term 7): renew there.");
    expect(runner.busy("www")).toBe(false);
  });

  test("no node leads: try again in a few seconds", async () => {
    const html = await (await follower(null).request("/certs/www?renew=not_leader")).text();
    expect(html).toContain("Not started: no node leads right now; try again in a few seconds.");
  });
});

describe("/renewals/:id", () => {
  test("an unknown renewal is a 404 page in the layout", async () => {
    const { status, html } = await get("/renewals/nope");
    expect(status).toBe(404);
    expect(html).toContain("<h1>Unknown renewal</h1>");
  });
});

describe("through the TCP app, signed in", () => {
  const TOKEN = "correct-horse-battery-staple-42";
  const origin = "http://127.0.0.1:8844";
  /** The TCP app over the real pages (and a stand-in API), with a session signed in to it, which returns to `next`. */
  const signedIn = async (next = "/") => {
    const auth = { token: TOKEN, sessions: new Sessions(randomBytes(32), TOKEN, 12, clock), tls: false, publicOrigin: undefined };
    const api = new Hono().get("/api/certs", (c) => c.json([]));
    const app = createTcpApp(api, { auth: () => auth, pages: dashboardRoutes(deps), assets: new Hono(), clock, log: silent, failDelayMs: 0 });
    const login = await app.request(`${origin}/login`, { method: "POST", body: new URLSearchParams({ token: TOKEN, next }), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    return { app, login, cookie: (login.headers.get("Set-Cookie") ?? "").split(";")[0]! };
  };

  test("the page's own form carries the CSRF token Renew now needs; without it the POST is refused", async () => {
    const { app, login, cookie } = await signedIn("/certs/www");
    const form = (fields: Record<string, string>) => ({ method: "POST", body: new URLSearchParams(fields), headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: origin, Cookie: cookie } });
    expect(login.headers.get("Location")).toBe("/certs/www");
    const page = await (await app.request(`${origin}/certs/www`, { headers: { Cookie: cookie } })).text();
    const csrf = /action="\/certs\/www\/renew"><input type="hidden" name="_csrf" value="([^"]+)"/.exec(page)?.[1];
    expect(csrf).toBeDefined();

    expect((await app.request(`${origin}/certs/www/renew`, form({ force: "1" }))).status).toBe(403);
    expect(runner.busy("www")).toBe(false);
    const res = await app.request(`${origin}/certs/www/renew`, form({ _csrf: csrf!, force: "1" }));
    expect(res.status).toBe(303);
    expect(res.headers.get("Location")).toStartWith("/renewals/");
    await runner.current("www")?.done;
    await scheduler.idle();
  });

  test("Renew now after the session ended: the login returns to the cert's page, not to the form's action", async () => {
    const { app } = await signedIn();
    const stale = await app.request(`${origin}/certs/www/renew`, { method: "POST", body: new URLSearchParams({ _csrf: "from-an-ended-session" }), headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: origin } });
    expect(stale.status).toBe(303);
    const next = new URL(stale.headers.get("Location")!, origin).searchParams.get("next")!;
    expect(next).toBe("/certs/www");
    const again = await app.request(`${origin}/login`, { method: "POST", body: new URLSearchParams({ token: TOKEN, next }), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    const cookie = (again.headers.get("Set-Cookie") ?? "").split(";")[0]!;
    const page = await app.request(`${origin}${again.headers.get("Location")}`, { headers: { Cookie: cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<h1>www</h1>");
    expect(runner.busy("www")).toBe(false);
  });

  test.each(["/nothing", "/favicon.ico", "/certs/www/renew", "/certs/www/nope", "/renewals"])("GET %s signed in is the not-found page in the layout, with the security headers, not cached", async (path) => {
    const { app, cookie } = await signedIn();
    const res = await app.request(`${origin}${path}`, { headers: { Cookie: cookie } });
    expect(res.status).toBe(404);
    expect(res.headers.get("Content-Type")).toStartWith("text/html");
    expect(res.headers.get("Content-Security-Policy")).toContain("default-src 'self'");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const html = await res.text();
    expect(html).toStartWith("<!DOCTYPE html>");
    expect(html).toContain("<h1>Page not found</h1>");
    expect(html).toContain(`Nothing is at <code>${path}</code>`);
  });

  test("an unknown path shows as text, and the API's paths are not pages", async () => {
    const { app, cookie } = await signedIn();
    const markup = await (await app.request(`${origin}/%3Cscript%3Ealert(1)%3C%2Fscript%3E`, { headers: { Cookie: cookie } })).text();
    expect(markup).not.toContain("<script>alert(1)");
    expect(markup).toContain("&lt;script&gt;alert(1)");
    expect((await app.request(`${origin}/api/certs`, { headers: { Cookie: cookie } })).status).toBe(200);
    const api404 = await app.request(`${origin}/api/nothing`, { headers: { Cookie: cookie } });
    expect(api404.status).toBe(404);
    expect(api404.headers.get("Content-Type") ?? "").not.toStartWith("text/html");
  });

  test("without a session an unknown path goes to the login, as an unknown cert does", async () => {
    const { app } = await signedIn();
    for (const path of ["/nothing", "/certs/nope"]) {
      const res = await app.request(`${origin}${path}`);
      expect(res.status).toBe(303);
      expect(res.headers.get("Location")).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
  });

  test("signed-in pages carry the session's CSRF token and are not cached", async () => {
    const { app, cookie } = await signedIn();
    for (const path of ["/", "/certs/www", "/certs/nope", "/audit", "/status"]) {
      const res = await app.request(`${origin}${path}`, { headers: { Cookie: cookie } });
      expect(await res.text()).toContain('name="_csrf"');
      expect(res.headers.get("Cache-Control")).toBe("no-store");
    }
  });
});
