/**
 * @module The daemon's HTTP API: every route, as served on the unix socket (whose 0600
 * mode is the access control). The TCP listener serves this same app behind its
 * authentication (`tcp.ts`).
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { describeError, RotaError } from "../errors.ts";
import { noBody } from "./no-body.ts";
import type { ApiDeps } from "./ports.ts";
import { singleParams } from "./query.ts";
import { alertRoutes } from "./routes/alerts.ts";
import { certRoutes } from "./routes/certs.ts";
import { clusterRoutes } from "./routes/cluster.ts";
import { openapiRoutes } from "./routes/openapi.ts";
import { eventRoutes } from "./routes/events.ts";
import { reloadRoutes } from "./routes/reload.ts";
import { renewalRoutes } from "./routes/renewals.ts";
import { statusRoutes } from "./routes/status.ts";

/** No route takes more than a small form or JSON object; anything bigger is refused unread. */
export const MAX_BODY_BYTES = 64 * 1024;

export const bodyLimited = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ error: `request body over ${MAX_BODY_BYTES / 1024} KiB` }, 413) });

export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();
  app.use(bodyLimited);
  app.use("/api/*", singleParams, noBody);
  app.get("/healthz", (c) => c.text("ok"));
  app.route("/", statusRoutes(deps));
  app.route("/", certRoutes(deps));
  app.route("/", renewalRoutes(deps));
  app.route("/", reloadRoutes(deps));
  app.route("/", alertRoutes(deps));
  app.route("/", clusterRoutes(deps));
  app.route("/", openapiRoutes());
  app.route("/", eventRoutes(deps));
  // Routes, not a notFound handler: hono calls only the outer app's notFound, so the TCP app,
  // which mounts these routes, would answer its own text 404. A known path asked with another
  // method is the same 404 (no 405): one answer on both listeners, and no Allow list to keep.
  app.all("/api/*", (c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.notFound((c) => c.text("not found", 404));
  // A request must never take the daemon down or print a stack trace: one line, and a 500 that says where to look.
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    // The audit store's server is away: the route cannot answer, and says so in the store's words.
    if (err instanceof RotaError && err.code === "store_unavailable") return c.json({ error: err.message }, 503);
    deps.log.error(`api: ${c.req.method} ${c.req.path}: ${describeError(err)}`);
    return c.json({ error: "internal error; the daemon's log has the cause" }, 500);
  });
  return app;
}
