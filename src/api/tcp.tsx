/**
 * @module The API on TCP: the socket's routes behind authentication (a Bearer token for
 * scripts and the CLI, a signed session cookie for browsers), CSRF and Origin checks for
 * cookie-borne changes, and security headers. `/healthz` alone answers without auth.
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { getConnInfo } from "hono/bun";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { TrieRouter } from "hono/router/trie-router";
import { secureHeaders } from "hono/secure-headers";
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import { bodyLimited } from "./app.ts";
import { formPage, safeNext } from "./auth/next.ts";
import { LoginPage } from "../views/layout.tsx";
import { SESSION_COOKIE, type Session, type Sessions } from "./auth/session.ts";
import { type StreamGuard, StreamGuards } from "./auth/stream-guards.ts";
import { bearerToken, tokenMatches } from "./auth/token.ts";

/** What authentication checks against now; a reload swaps it (a new token ends every session). */
export interface TcpAuth {
  token: string;
  sessions: Sessions;
  /** Served over TLS: the session cookie is `Secure`. */
  tls: boolean;
  /** `public_url`'s origin: browsers behind a reverse proxy send it as their Origin. */
  publicOrigin: string | undefined;
}

export interface TcpDeps {
  auth: () => TcpAuth;
  /** The dashboard's pages (behind the login) and its static files (before it). */
  pages: Hono<TcpEnv>;
  assets: Hono;
  /** The open streams and the credentials they opened with: a logout rechecks them; a token change is the listener's to recheck. Default: the app's own. */
  streams?: StreamGuards;
  clock: Clock;
  log: Logger;
  /** How long a failed attempt waits for its answer (default 300 ms): guessing slows, a right token is never refused. */
  failDelayMs?: number;
}

/** Pages read the session (its CSRF token goes into their forms); null when a Bearer token authenticated. */
export type TcpEnv = { Variables: { session: Session | null; streamGuard?: StreamGuard } };

const REFUSED_CROSS_SITE = { error: "cross-site request refused" };

export function createTcpApp(api: Hono, deps: TcpDeps): Hono<TcpEnv> {
  // Hono's default router compiles every route into one expression at the first request: some 8 ms
  // of a restart's first `/healthz` answer at 10,000 certs (issue 11). The trie it falls back to
  // for the patterns that expression cannot take matches the same way and is built as routes are added.
  const app = new Hono<TcpEnv>({ router: new TrieRouter() });
  const failDelay = deps.failDelayMs ?? 300;
  const streams = deps.streams ?? new StreamGuards(deps.clock);

  // Before anything reads a body: the login form is parsed ahead of the API's own limit.
  app.use(bodyLimited);
  app.use(
    secureHeaders({
      contentSecurityPolicy: { defaultSrc: ["'self'"], frameAncestors: ["'none'"], formAction: ["'self'"], baseUri: ["'none'"], objectSrc: ["'none'"] },
      // Not "no-referrer": under it browsers send `Origin: null` on their own form posts and
      // fetches, and the Origin check below would refuse the dashboard's logins and buttons.
      // "same-origin" still sends nothing to other sites, and their requests still read `null`.
      referrerPolicy: "same-origin",
      xFrameOptions: "DENY",
      crossOriginResourcePolicy: "same-origin",
      // HSTS pins a host name to HTTPS for months: an operator's choice (and their proxy's), not ours.
      strictTransportSecurity: false,
    }),
  );
  app.use("/api/*", async (c, next) => {
    await next();
    // On the response's own headers, as secureHeaders does: c.header() after the response
    // exists rebuilds it around its body as a stream, which cost ~20 ms for the 7-MB list at 10,000 certs.
    c.res.headers.set("Cache-Control", "no-store");
  });

  /** A refused attempt: logged without what was presented, answered after the fixed delay. */
  const refuse = async (c: Context, why: string) => {
    deps.log.warn(`http: refused ${c.req.method} ${c.req.path} from ${remote(c)}: ${why}`);
    if (failDelay > 0) await new Promise<void>((resolve) => deps.clock.setTimeout(resolve, failDelay));
  };

  app.get("/healthz", (c) => c.text("ok"));
  app.route("/", deps.assets);

  app.use("/login", noStore);
  app.get("/login", (c) => c.html(<LoginPage next={safeNext(c.req.query("next"))} failed={false} />));

  app.post("/login", async (c) => {
    const auth = deps.auth();
    if (!sameOrigin(c, auth)) return c.json(REFUSED_CROSS_SITE, 403);
    const form = await formOf(c);
    if (form === null) return c.json({ error: "the login form must be sent as application/x-www-form-urlencoded or multipart/form-data" }, 400);
    const next = safeNext(field(form, "next"));
    // A pasted token often brings a space or a line break along; a token never has one (tokenProblem).
    const token = field(form, "token")?.trim();
    if (!token || !tokenMatches(token, auth.token)) {
      await refuse(c, "wrong token at login");
      return c.html(<LoginPage next={next} failed={true} />, 401);
    }
    const { cookie, session } = auth.sessions.issue();
    setCookie(c, SESSION_COOKIE, cookie, { httpOnly: true, sameSite: "Strict", path: "/", secure: auth.tls, maxAge: Math.floor((session.expires.getTime() - deps.clock.now().getTime()) / 1000) });
    return c.redirect(next, 303);
  });

  app.use("*", async (c, next) => {
    const auth = deps.auth();
    const presented = bearerToken(c.req.header("Authorization"));
    const isApi = c.req.path.startsWith("/api/") || c.req.path === "/api";
    if (presented !== null) {
      if (presented === "" || !tokenMatches(presented, auth.token)) {
        await refuse(c, presented === "" ? "malformed Authorization header" : "wrong token");
        return unauthorized(c);
      }
      c.set("session", null);
      if (isUpgrade(c)) c.set("streamGuard", streams.guard(() => tokenMatches(presented, deps.auth().token), null, "token no longer valid"));
      // Bearer requests carry no ambient credential, so no CSRF token; a browser opening the event stream still must be on our origin.
      if (isUpgrade(c) && !sameOrigin(c, auth)) return c.json(REFUSED_CROSS_SITE, 403);
      return next();
    }
    const cookie = getCookie(c, SESSION_COOKIE);
    const session = auth.sessions.verify(cookie);
    if (!session) {
      if (cookie !== undefined) await refuse(c, "invalid or expired session");
      if (isApi) return unauthorized(c);
      const back = c.req.method === "GET" || c.req.method === "HEAD" ? c.req.path + new URL(c.req.url).search : formPage(c.req.path);
      return c.redirect(`/login?next=${encodeURIComponent(back)}`, 303);
    }
    c.set("session", session);
    if (isUpgrade(c)) {
      if (!sameOrigin(c, auth)) return c.json(REFUSED_CROSS_SITE, 403);
      c.set("streamGuard", streams.guard(() => deps.auth().sessions.verify(cookie) !== null, session.expires, "session ended: sign in again"));
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      if (!sameOrigin(c, auth)) return c.json(REFUSED_CROSS_SITE, 403);
      const presentedCsrf = c.req.header("X-CSRF-Token") ?? field(await formOf(c), "_csrf");
      if (!auth.sessions.csrfMatches(session, presentedCsrf)) return c.json(REFUSED_CROSS_SITE, 403);
    }
    return next();
  });
  app.use("*", noStore);

  app.post("/logout", (c) => {
    const session = c.get("session");
    if (session) {
      deps.auth().sessions.revoke(session);
      streams.recheck();
    }
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: deps.auth().tls, httpOnly: true, sameSite: "Strict" });
    return c.redirect("/login", 303);
  });

  app.route("/", deps.pages);
  // The API's routes read no variables: mounting them under this env changes nothing they see.
  app.route("/", api as unknown as Hono<TcpEnv>);
  return app;
}

/** A signed-in reply carries the session's CSRF token (pages) or what only the token may read; the login form a token being typed. None belongs in a cache. */
const noStore: MiddlewareHandler = async (c, next) => {
  await next();
  c.res.headers.set("Cache-Control", "no-store");
};

function unauthorized(c: Context) {
  c.header("WWW-Authenticate", 'Bearer realm="rota"');
  return c.json({ error: "authentication required" }, 401);
}

function isUpgrade(c: Context): boolean {
  return (c.req.header("Upgrade") ?? "").toLowerCase() === "websocket";
}

/**
 * No Origin (curl, the CLI, old browsers on GET) passes: the CSRF token guards those. An
 * Origin must be this listener as the browser reached it (scheme and Host) or
 * `public_url`'s. A DNS-rebinding page matches the first, but carries no session cookie
 * (cookies belong to the real host name) and no token.
 */
function sameOrigin(c: Context, auth: TcpAuth): boolean {
  const origin = c.req.header("Origin");
  if (origin === undefined) return true;
  if (auth.publicOrigin !== undefined && origin === auth.publicOrigin) return true;
  // Bun builds the request URL from the Host header the browser sent.
  return origin === `${auth.tls ? "https" : "http"}://${new URL(c.req.url).host}`;
}

type Form = Record<string, string | File | (string | File)[]>;

/** The request's form fields, or null when the body is not a form. Cached by hono: later readers see it too. */
async function formOf(c: Context): Promise<Form | null> {
  const type = c.req.header("Content-Type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded") && !type.startsWith("multipart/form-data")) return null;
  try {
    return (await c.req.parseBody()) as Form;
  } catch {
    return null;
  }
}

function field(form: Form | null, name: string): string | undefined {
  const v = form?.[name];
  return typeof v === "string" ? v : undefined;
}

function remote(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}
