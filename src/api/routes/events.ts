/** @module `GET /api/events`: every bus event as it happens, one JSON text frame each, over a WebSocket. */
import { Hono } from "hono";
import { eventJson } from "../json.ts";
import type { GuardedEnv, StreamGuard } from "../auth/stream-guards.ts";
import type { ApiDeps } from "../ports.ts";
import { SLOW_CLIENT_BYTES, upgradeWebSocket } from "../websocket.ts";

/** "Try again later" (RFC 6455 §7.4.2, IANA registry): the client fell too far behind and was dropped. */
export const CLOSE_TOO_SLOW = 1013;

export function eventRoutes(deps: ApiDeps): Hono<GuardedEnv> {
  return new Hono<GuardedEnv>().get(
    "/api/events",
    async (c, next) => {
      // RFC 9110 §15.5.22: a 426 names the protocol to switch to.
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        return c.json({ error: "GET /api/events is a WebSocket: upgrade the connection (Upgrade: websocket)" }, 426, { Upgrade: "websocket" });
      }
      const certId = c.req.query("cert");
      if (certId === "") return c.json({ error: "cert must be a cert id" }, 400);
      // As GET /api/renewals?cert=: a typo would otherwise listen forever to a cert that never speaks.
      // A cert the audit trail knows (removed from the config, or before a reload adds it back) is no typo.
      if (certId !== undefined && !deps.certs.find(certId) && (await deps.store.listRenewalHeads({ certId, limit: 1 })).length === 0) {
        return c.json({ error: `unknown cert ${JSON.stringify(certId)}` }, 404);
      }
      await next();
    },
    upgradeWebSocket((c) => {
      const certId = c.req.query("cert");
      const guard: StreamGuard | undefined = c.get("streamGuard");
      let unsubscribe = () => {};
      let release = () => {};
      return {
        onOpen(_evt, ws) {
          const raw = ws.raw;
          if (!raw) return;
          if (guard) release = guard((code, reason) => raw.close(code, reason));
          if (raw.readyState !== WebSocket.OPEN) return;
          unsubscribe = deps.bus.subscribe((e) => {
            if ((certId !== undefined && ("certId" in e ? e.certId : undefined) !== certId) || raw.readyState !== WebSocket.OPEN) return;
            const frame = JSON.stringify(eventJson(e));
            // Before Bun's own limit, which cuts the connection without a word: a client that reads at all
            // gets the close frame after what it was sent, and knows to reconnect and re-read the state.
            if (raw.getBufferedAmount() + Buffer.byteLength(frame) > SLOW_CLIENT_BYTES) {
              deps.log.warn(`api: GET /api/events: dropped a client ${raw.remoteAddress || "on the socket"} more than ${SLOW_CLIENT_BYTES / 1024} KiB behind`);
              raw.close(CLOSE_TOO_SLOW, "too slow: events unread");
              return;
            }
            raw.sendText(frame);
          });
        },
        onClose() {
          release();
          unsubscribe();
        },
      };
    }),
    // Bun refused the handshake (no Sec-WebSocket-Key, another version).
    (c) => c.json({ error: "bad WebSocket handshake" }, 400),
  );
}
