/**
 * @module Requests whose answer may take longer than Bun's idle timeout. Bun.serve closes a
 * request still unanswered after `idleTimeout` seconds (10 by default): the client sees the
 * connection closed without a reply, and the daemon logs "Bun.serve() timed out a request
 * after 10 seconds". A route that waits on something slow on purpose (a test alert's
 * retries) raises the limit for its own request, so an idle or stalled client on TCP is still
 * dropped at 10 s everywhere else. On the unix socket `server.timeout()` has no effect
 * (measured with Bun 1.4.5: cut at 10 s all the same), so the socket's servers are given
 * `SLOW_ANSWER_SECONDS` as their idle timeout instead (serve-options.ts).
 */
import type { Server } from "bun";
import type { Context } from "hono";
import { SLOW_ANSWER_SECONDS } from "./serve-options.ts";

/**
 * Lets the request of `c` go unanswered for up to `SLOW_ANSWER_SECONDS`. Served by
 * Bun.serve, hono's `c.env` is the server; in-process (`app.request`) there is none, and
 * nothing to raise.
 */
export function allowSlowAnswer(c: Context): void {
  const server = c.env as Partial<Server<unknown>> | undefined;
  if (typeof server?.timeout === "function") server.timeout(c.req.raw, SLOW_ANSWER_SECONDS);
}
