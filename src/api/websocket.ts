/**
 * @module WebSockets for the API: the one upgrade helper the routes use, and the Bun
 * handler every `Bun.serve` serving the app must pass as `websocket` (the socket's, the
 * TCP listener's): without it `server.upgrade` throws, and every upgrade is a 500.
 */
import type { ServerWebSocket } from "bun";
import { type BunWebSocketData, createBunWebSocket } from "hono/bun";

// Typed so that a route's `ws.raw` is Bun's socket, with `getBufferedAmount()` and `remoteAddress`.
const bun = createBunWebSocket<ServerWebSocket<BunWebSocketData>>();

export const upgradeWebSocket = bun.upgradeWebSocket;

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

/** hono's handler dispatches open/message/close to the route; the limits are Bun's and apply to every WebSocket the server holds. */
export const websocket = {
  ...bun.websocket,
  backpressureLimit: SLOW_CLIENT_BYTES,
  closeOnBackpressureLimit: true,
  idleTimeout: IDLE_TIMEOUT_SECONDS,
  sendPings: true,
  // Clients have nothing to say on these streams; a bigger message closes the connection with 1009 instead of Bun buffering 16 MB.
  maxPayloadLength: 4 * 1024,
};
