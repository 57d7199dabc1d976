/**
 * @module What every `Bun.serve` of the daemon's API is given besides its handlers: the body
 * cap, how long a request may go unanswered, and the WebSocket limits. Apart from the app (no hono here), so the listeners a start
 * opens before the app exists (src/daemon/front.ts) are given the same.
 */

/** Bun's own cap (`maxRequestBodySize`) for every listener: a backstop behind the app's `bodyLimit`, which answers in JSON. */
export const SERVER_MAX_BODY_BYTES = 1024 * 1024;

/**
 * The most bytes a client may leave unsent before it is dropped. A frame of the event stream
 * is about 250 bytes (a step with a short message), so this is roughly 1,000 frames: a client
 * that is merely slow rides out a burst of renewals, and 500 stalled clients hold at most
 * 128 MiB. Routes that care close politely below it (`events.ts`); past it Bun drops the
 * connection without a close frame, whichever route sent.
 */
export const SLOW_CLIENT_BYTES = 256 * 1024;

/**
 * The longest a route takes on purpose: `POST /api/alerts/test` waits for every sink's
 * delivery with its retries, at most 110 s (src/alerts/dispatcher.ts `directBoundMs`). A
 * request may go unanswered this long (slow-answer.ts): on TCP the route raises its own
 * request's limit; the unix socket's servers take it as their idle timeout, since Bun's
 * per-request `server.timeout()` does nothing there (Bun 1.4.5). Only the daemon's user can
 * open the socket (0600), so its clients are trusted not to hold connections idle.
 */
export const SLOW_ANSWER_SECONDS = 120;

/**
 * A unix socket server's options with the body cap and `SLOW_ANSWER_SECONDS` as its idle
 * timeout. Bun's types leave `idleTimeout` out of a unix server's options; Bun 1.4.5
 * honours it there (measured), hence the untyped spread.
 */
export function socketServeOptions<T extends { unix: string }>(options: T): T {
  const limits: object = { maxRequestBodySize: SERVER_MAX_BODY_BYTES, idleTimeout: SLOW_ANSWER_SECONDS };
  return { ...options, ...limits };
}

/**
 * Bun pings a client that has been silent for most of `idleTimeout` (measured with Bun 1.4:
 * every 24 s at 30) and drops it if no pong comes by the end. Proxies commonly close
 * an idle upstream after 60 s (nginx `proxy_read_timeout`, cloud load balancers), so the
 * pings keep a quiet stream open through them, and a client gone without a FIN is noticed
 * within about 30 s.
 */
const IDLE_TIMEOUT_SECONDS = 30;

/** Bun's limits, for every WebSocket a server holds; the handlers are hono's (src/api/websocket.ts). */
export const WEBSOCKET_LIMITS = {
  backpressureLimit: SLOW_CLIENT_BYTES,
  closeOnBackpressureLimit: true,
  idleTimeout: IDLE_TIMEOUT_SECONDS,
  sendPings: true,
  // Clients have nothing to say on these streams; a bigger message closes the connection with 1009 instead of Bun buffering 16 MB.
  maxPayloadLength: 4 * 1024,
};
