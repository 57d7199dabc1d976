/**
 * @module WebSockets for the API: the one upgrade helper the routes use, and the Bun
 * handler every `Bun.serve` serving the app must pass as `websocket` (the socket's, the
 * TCP listener's): without it `server.upgrade` throws, and every upgrade is a 500.
 */
import type { ServerWebSocket } from "bun";
import { type BunWebSocketData, createBunWebSocket } from "hono/bun";
import { SLOW_CLIENT_BYTES, WEBSOCKET_LIMITS } from "./serve-options.ts";

// Typed so that a route's `ws.raw` is Bun's socket, with `getBufferedAmount()` and `remoteAddress`.
const bun = createBunWebSocket<ServerWebSocket<BunWebSocketData>>();

export const upgradeWebSocket = bun.upgradeWebSocket;

export { SLOW_CLIENT_BYTES };

/** hono's handler dispatches open/message/close to the route; the limits are Bun's and apply to every WebSocket the server holds. */
export const websocket = {
  ...bun.websocket,
  ...WEBSOCKET_LIMITS,
};
