/**
 * @module What every `Bun.serve` of the daemon's API is given besides its handlers: the body
 * cap and the WebSocket limits. Apart from the app (no hono here), so the listeners a start
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
