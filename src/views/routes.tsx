/**
 * @module The dashboard's pages, served on the TCP listener behind its login (the TCP app
 * mounts them after authentication), and its embedded assets, served to anyone: they hold
 * nothing but code and style, and the login page needs them.
 */
import { Hono } from "hono";
import type { ApiDeps } from "../api/ports.ts";
import type { TcpEnv } from "../api/tcp.tsx";
import { describeError, RotaError } from "../errors.ts";
import { assetAt } from "./assets.ts";
import { renewFromPage, showCert } from "./pages/cert.tsx";
import { OverviewPage, overviewData } from "./pages/overview.tsx";
import { showRenewal } from "./pages/renewal.tsx";
import { AuditPage, auditData } from "./pages/audit.tsx";
import { ErrorPage } from "./pages/error.tsx";
import { NotFoundPage } from "./pages/not-found.tsx";
import { StatusPage, statusData } from "./pages/status.tsx";

/** Pages read the session's CSRF token for their forms; a page is only reached signed in. */
const csrfOf = (session: TcpEnv["Variables"]["session"]) => session?.csrf ?? "";

export function dashboardRoutes(deps: ApiDeps): Hono<TcpEnv> {
  const app = new Hono<TcpEnv>();
  app.get("/", async (c) => c.html(<OverviewPage d={await overviewData(deps, new URL(c.req.url))} csrf={csrfOf(c.get("session"))} />));
  app.get("/certs/:id", (c) => showCert(c, deps, csrfOf(c.get("session"))));
  app.post("/certs/:id/renew", (c) => renewFromPage(c, deps, csrfOf(c.get("session"))));
  app.get("/renewals/:id", (c) => showRenewal(c, deps, csrfOf(c.get("session"))));
  app.get("/audit", async (c) => c.html(<AuditPage d={await auditData(deps, new URL(c.req.url))} csrf={csrfOf(c.get("session"))} />));
  app.get("/status", async (c) => c.html(<StatusPage d={await statusData(deps)} csrf={csrfOf(c.get("session"))} />));
  // Last of the pages, and the TCP app mounts no page after them: any other path is a page
  // nobody made, answered in the layout (issue 7: errors shown where they happen, never a
  // bare text). The API's paths pass on to its routes and its own JSON 404.
  app.all("*", (c, next) => {
    if (c.req.path === "/api" || c.req.path.startsWith("/api/")) return next();
    return c.html(
      <NotFoundPage csrf={csrfOf(c.get("session"))} title="Page not found">
        Nothing is at <code>{c.req.path}</code>. <a href="/">See every certificate</a>.
      </NotFoundPage>,
      404,
    );
  });
  // Hono's default would print the stack and answer a bare "Internal Server Error".
  app.onError((err, c) => {
    const csrf = csrfOf(c.get("session"));
    // The audit store's server is away (SurrealDB): the page cannot be read, and says so in the store's words.
    if (err instanceof RotaError && err.code === "store_unavailable") {
      return c.html(<ErrorPage csrf={csrf} title="Audit store not connected" message={`${err.message}. The page is back once it reconnects.`} />, 503);
    }
    deps.log.error(`dashboard: ${c.req.method} ${c.req.path}: ${describeError(err)}`);
    return c.html(<ErrorPage csrf={csrf} title="Something went wrong" message="This page could not be made; the daemon's log has the cause." />, 500);
  });
  return app;
}

export function assetRoutes(): Hono {
  return new Hono().get("/assets/:file", (c) => {
    const asset = assetAt(c.req.path);
    if (!asset) return c.text("not found", 404);
    // The name changes with the content: a year-long cache is safe.
    return c.body(asset.body, 200, { "Content-Type": asset.type, "Cache-Control": "public, max-age=31536000, immutable" });
  });
}
