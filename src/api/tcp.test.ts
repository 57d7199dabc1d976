/** @module The TCP app's authentication in-process: tokens, sessions, CSRF, Origin, redirects, headers. */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createConsola } from "consola";
import { Hono } from "hono";
import { FakeClock, settle } from "../testing/fake-clock.ts";
import { createApi } from "./app.ts";
import { Sessions } from "./auth/session.ts";
import type { ApiDeps } from "./ports.ts";
import { createTcpApp, type TcpAuth, type TcpEnv } from "./tcp.tsx";

const TOKEN = "correct-horse-battery-staple-42";
const clock = new FakeClock();
const logged: string[] = [];
const log = createConsola({ level: 1, reporters: [{ log: (o) => logged.push(o.args.join(" ")) }] });
const key = randomBytes(32);
let auth: TcpAuth = { token: TOKEN, sessions: new Sessions(key, TOKEN, 12, clock), tls: false, publicOrigin: undefined };

const api = new Hono();
api.get("/api/certs", (c) => c.json([]));
api.post("/api/certs/:id/renew", (c) => c.json({ status: "started" }, 202));
api.get("/api/events", (c) => c.text("upgraded"));
// A stand-in for the dashboard: a page carrying the session's CSRF token, as the real ones do.
const pages = new Hono<TcpEnv>().get("/", (c) => c.html(`<input type="hidden" name="_csrf" value="${c.get("session")?.csrf ?? ""}">`));
const assets = new Hono().get("/assets/:file", (c) => c.text("asset"));
const app = createTcpApp(api, { auth: () => auth, pages, assets, clock, log, failDelayMs: 0 });

const ORIGIN = "http://127.0.0.1:8844";
const req = (path: string, init: RequestInit = {}) => app.request(`${ORIGIN}${path}`, init);
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

async function login(token = TOKEN): Promise<{ cookie: string; csrf: string; res: Response }> {
  const res = await req("/login", { method: "POST", body: new URLSearchParams({ token, next: "/certs" }), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
  const cookie = (res.headers.get("Set-Cookie") ?? "").split(";")[0]!;
  const home = await req("/", { headers: { Cookie: cookie } });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await home.text())?.[1] ?? "";
  return { cookie, csrf, res };
}

describe("Bearer tokens", () => {
  test("the right token passes; the reply is not cached", async () => {
    const res = await req("/api/certs", bearer(TOKEN));
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
  });

  test.each([
    ["no header", {}],
    ["a wrong token", bearer("wrong-token-of-some-length")],
    ["another scheme", { headers: { Authorization: `Basic ${btoa(`x:${TOKEN}`)}` } }],
    ["a malformed header", { headers: { Authorization: "Bearer" } }],
    ["two tokens", { headers: { Authorization: `Bearer ${TOKEN} ${TOKEN}` } }],
  ])("%s is 401 with WWW-Authenticate", async (_, init) => {
    const res = await req("/api/certs", init);
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toStartWith("Bearer");
    expect(await res.json()).toEqual({ error: "authentication required" });
  });

  test("a failed attempt waits for the delay; a right token right after is not refused", async () => {
    const delayed = createTcpApp(api, { auth: () => auth, pages, assets, clock, log });
    let answered = false;
    const pending = Promise.resolve(delayed.request(`${ORIGIN}/api/certs`, bearer("wrong-token-of-some-length"))).then((r) => ((answered = true), r));
    await settle();
    expect(answered).toBe(false);
    expect((await delayed.request(`${ORIGIN}/api/certs`, bearer(TOKEN))).status).toBe(200);
    await clock.advance(300);
    expect((await pending).status).toBe(401);
  });

  test("no credential at all is refused at once: nothing was guessed", async () => {
    const delayed = createTcpApp(api, { auth: () => auth, pages, assets, clock, log });
    const res = await delayed.request(`${ORIGIN}/api/certs`);
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toStartWith("Bearer");
  });

  test("a failed attempt is logged with the path, never the presented value", async () => {
    logged.length = 0;
    await req("/api/certs", bearer("canary-token-value-123"));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("/api/certs");
    expect(logged[0]).not.toContain("canary-token-value-123");
  });

  test("a state change needs no CSRF token", async () => {
    expect((await req("/api/certs/www/renew", { method: "POST", ...bearer(TOKEN) })).status).toBe(202);
  });

  test("/healthz and the dashboard's assets answer without auth; nothing else does", async () => {
    expect(await (await req("/healthz")).text()).toBe("ok");
    expect(await (await req("/assets/style.css")).text()).toBe("asset");
    expect((await req("/api/status")).status).toBe(401);
  });
});

describe("browser sessions", () => {
  test("login sets an HttpOnly, SameSite=Strict session cookie and goes to next", async () => {
    const { res } = await login();
    expect(res.status).toBe(303);
    expect(res.headers.get("Location")).toBe("/certs");
    const cookie = res.headers.get("Set-Cookie")!;
    expect(cookie).toStartWith("rota_session=");
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/");
    expect(cookie).not.toContain("Secure");
  });

  test("a pasted token with whitespace around it signs in", async () => {
    const { res } = await login(` ${TOKEN}\n`);
    expect(res.status).toBe(303);
    expect(res.headers.get("Set-Cookie")).toStartWith("rota_session=");
  });

  test("over TLS the cookie is Secure", async () => {
    const tlsApp = createTcpApp(api, { auth: () => ({ ...auth, tls: true }), pages, assets, clock, log, failDelayMs: 0 });
    const res = await tlsApp.request("https://nas:8844/login", { method: "POST", body: new URLSearchParams({ token: TOKEN }) });
    expect(res.headers.get("Set-Cookie")).toContain("Secure");
  });

  test("a wrong token at login is 401 with the form again, and no cookie", async () => {
    const { res } = await login("not-the-token-at-all");
    expect(res.status).toBe(401);
    expect(res.headers.get("Set-Cookie")).toBeNull();
  });

  test("a session reads the API and, with its CSRF token, changes state", async () => {
    const { cookie, csrf } = await login();
    expect((await req("/api/certs", { headers: { Cookie: cookie } })).status).toBe(200);
    const post = (headers: Record<string, string>) => req("/api/certs/www/renew", { method: "POST", headers: { Cookie: cookie, ...headers } });
    expect((await post({ "X-CSRF-Token": csrf })).status).toBe(202);
    expect((await post({ "X-CSRF-Token": csrf, Origin: ORIGIN })).status).toBe(202);
    expect(await (await post({})).json()).toEqual({ error: "cross-site request refused" });
    expect((await post({ "X-CSRF-Token": "x".repeat(csrf.length) })).status).toBe(403);
    expect((await post({ "X-CSRF-Token": csrf, Origin: "https://evil.example" })).status).toBe(403);
    // What a browser sends from another site under our Referrer-Policy, or from a sandboxed frame.
    expect((await post({ "X-CSRF-Token": csrf, Origin: "null" })).status).toBe(403);
    const form = await req("/api/certs/www/renew", { method: "POST", body: new URLSearchParams({ _csrf: csrf }), headers: { Cookie: cookie } });
    expect(form.status).toBe(202);
  });

  test("public_url's origin is accepted as the browser's Origin", async () => {
    const proxied = createTcpApp(api, { auth: () => ({ ...auth, publicOrigin: "https://nas.example.com" }), pages, assets, clock, log, failDelayMs: 0 });
    const { cookie, csrf } = await login();
    const res = await proxied.request(`${ORIGIN}/api/certs/www/renew`, { method: "POST", headers: { Cookie: cookie, "X-CSRF-Token": csrf, Origin: "https://nas.example.com" } });
    expect(res.status).toBe(202);
  });

  test("a login posted from another site is refused", async () => {
    const res = await req("/login", { method: "POST", body: new URLSearchParams({ token: TOKEN }), headers: { Origin: "https://evil.example" } });
    expect(res.status).toBe(403);
  });

  test("an expired session, a forged one and one from before a token change are refused", async () => {
    const { cookie } = await login();
    const forged = cookie.replace(/.$/, (ch) => (ch === "A" ? "B" : "A"));
    expect((await req("/api/certs", { headers: { Cookie: forged } })).status).toBe(401);
    const otherKey = new Sessions(randomBytes(32), TOKEN, 12, clock).issue().cookie;
    expect((await req("/api/certs", { headers: { Cookie: `rota_session=${otherKey}` } })).status).toBe(401);

    const before = auth;
    auth = { ...auth, token: "a-brand-new-token-0000", sessions: new Sessions(key, "a-brand-new-token-0000", 12, clock) };
    expect((await req("/api/certs", { headers: { Cookie: cookie } })).status).toBe(401);
    auth = before;
    expect((await req("/api/certs", { headers: { Cookie: cookie } })).status).toBe(200);
    await clock.advance(12 * 3600 * 1000);
    expect((await req("/api/certs", { headers: { Cookie: cookie } })).status).toBe(401);
  });

  test("logout ends the session, even for a copy of the cookie", async () => {
    const { cookie, csrf } = await login();
    const res = await req("/logout", { method: "POST", body: new URLSearchParams({ _csrf: csrf }), headers: { Cookie: cookie } });
    expect(res.status).toBe(303);
    expect(res.headers.get("Set-Cookie")).toContain("rota_session=;");
    expect((await req("/api/certs", { headers: { Cookie: cookie } })).status).toBe(401);
  });
});

describe("unknown API routes", () => {
  // The real API's routes: its JSON 404 must survive being mounted behind the auth.
  const real = createTcpApp(createApi({} as ApiDeps), { auth: () => auth, pages, assets, clock, log, failDelayMs: 0 });

  test.each([
    ["GET", "/api/nothing"],
    ["GET", "/api"],
    ["GET", "/api/certs/c001/"],
    ["PUT", "/api/certs"],
    ["DELETE", "/api/certs"],
    ["PATCH", "/api/certs"],
    ["OPTIONS", "/api/certs"],
  ])("%s %s is the socket's JSON 404, with the API's headers", async (method, path) => {
    const res = await real.request(`${ORIGIN}${path}`, { method, ...bearer(TOKEN) });
    expect(res.status).toBe(404);
    expect(res.headers.get("Content-Type")).toStartWith("application/json");
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    expect(res.headers.get("Content-Security-Policy")).toContain("default-src 'self'");
    expect(await res.json()).toEqual({ error: `no route ${method} ${path}` });
  });

  test("without credentials they are 401 like any API route", async () => {
    expect((await real.request(`${ORIGIN}/api/nothing`)).status).toBe(401);
  });
});

describe("pages and redirects", () => {
  test("a page without a session goes to the login with next", async () => {
    const res = await req("/certs/www?tab=log");
    expect(res.status).toBe(303);
    expect(res.headers.get("Location")).toBe("/login?next=%2Fcerts%2Fwww%3Ftab%3Dlog");
    expect((await req("/")).headers.get("Location")).toBe("/login?next=%2F");
  });

  test("a form posted without a session returns, after the login, to the page it was on: its action answers POST only", async () => {
    const res = await req("/certs/c003/renew", { method: "POST", body: new URLSearchParams({ force: "1" }) });
    expect(res.status).toBe(303);
    expect(res.headers.get("Location")).toBe("/login?next=%2Fcerts%2Fc003");
    expect((await req("/logout", { method: "POST" })).headers.get("Location")).toBe("/login?next=%2F");
  });

  test("the login form and every signed-in reply are not cached; /healthz and the assets may be", async () => {
    const { cookie } = await login();
    expect((await req("/login")).headers.get("Cache-Control")).toBe("no-store");
    expect((await login("not-the-token-at-all")).res.headers.get("Cache-Control")).toBe("no-store");
    expect((await login()).res.headers.get("Cache-Control")).toBe("no-store");
    expect((await req("/", { headers: { Cookie: cookie } })).headers.get("Cache-Control")).toBe("no-store");
    expect((await req("/", bearer(TOKEN))).headers.get("Cache-Control")).toBe("no-store");
    expect((await req("/healthz")).headers.get("Cache-Control")).toBeNull();
    expect((await req("/assets/style.css")).headers.get("Cache-Control")).toBeNull();
  });

  test.each(["https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/ok\r\nSet-Cookie: x=1"])("next=%s is not honoured", async (next) => {
    const form = await req(`/login?next=${encodeURIComponent(next)}`);
    expect(await form.text()).toContain('name="next" value="/"');
    const res = await req("/login", { method: "POST", body: new URLSearchParams({ token: TOKEN, next }) });
    expect(res.headers.get("Location")).toBe("/");
  });

  test("every reply carries the security headers", async () => {
    const res = await req("/login");
    const csp = res.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(res.headers.get("Referrer-Policy")).toBe("same-origin");
  });
});

describe("the event stream's upgrade", () => {
  const upgrade = (headers: Record<string, string>) => req("/api/events", { headers: { Upgrade: "websocket", ...headers } });

  test("from another site it is refused, with a session or a token", async () => {
    const { cookie } = await login();
    expect((await upgrade({ Cookie: cookie, Origin: "https://evil.example" })).status).toBe(403);
    expect((await upgrade({ Authorization: `Bearer ${TOKEN}`, Origin: "https://evil.example" })).status).toBe(403);
  });

  test("from our own page it passes", async () => {
    const { cookie } = await login();
    expect((await upgrade({ Cookie: cookie, Origin: ORIGIN })).status).toBe(200);
  });
});
