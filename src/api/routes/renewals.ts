/** @module The audit routes: the renewals searched and paged, one renewal, and one renewal's steps live (server-sent events). */
import { Hono } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import { describeError, RotaError } from "../../errors.ts";
import type { RotaEvent } from "../../events.ts";
import { renewalJson, stepJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";
import { parseRenewalQuery } from "../renewal-query.ts";

const HEARTBEAT_MS = 5_000;

export function renewalRoutes(deps: ApiDeps): Hono {
  const app = new Hono();

  app.get("/api/renewals", async (c) => {
    const query = await parseRenewalQuery(deps, (name) => c.req.query(name));
    return c.json((await deps.store.listRenewals(query)).map(renewalJson));
  });

  app.get("/api/renewals/:id", async (c) => {
    const r = await deps.store.getRenewal(c.req.param("id"));
    return r ? c.json(renewalJson(r)) : c.json({ error: "unknown renewal" }, 404);
  });

  // Server-sent events: every step as it finishes ("step"), then the closed renewal ("end").
  app.get("/api/renewals/:id/events", async (c) => {
    const id = c.req.param("id");
    const queued: RotaEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = deps.bus.subscribe((e) => {
      if (e.type === "renewal.step" && e.renewalId === id) {
        queued.push(e);
        wake?.();
      }
    });
    // The runner's handle says when the renewal is over, whenever the store's last write lands.
    const running = deps.actions.running(id);
    if (!running && !(await deps.store.getRenewal(id))) {
      unsubscribe();
      return c.json({ error: "unknown renewal" }, 404);
    }
    let over = !running;
    void running?.done.finally(() => {
      over = true;
      wake?.();
    });
    return streamSSE(c, async (stream) => {
      try {
        await follow(stream);
      } catch (err) {
        // Headers are sent: the stream ends with an `error` event, never with hono's stack trace on stderr.
        unsubscribe();
        const unavailable = err instanceof RotaError && err.code === "store_unavailable";
        if (!unavailable) deps.log.error(`api: GET ${c.req.path}: ${describeError(err)}`);
        const error = unavailable ? err.message : "internal error; the daemon's log has the cause";
        await stream.writeSSE({ event: "error", data: JSON.stringify({ error }) }).catch(() => {});
      }
    });

    async function follow(stream: SSEStreamingApi): Promise<void> {
      stream.onAbort(unsubscribe);
      const sent = new Set<string>();
      const sendStep = async (e: { step: string; at: Date; status: string; message: string; durationMs: number }) => {
        const key = `${e.step}|${e.at.getTime()}|${e.status}`;
        if (sent.has(key)) return;
        sent.add(key);
        await stream.writeSSE({ event: "step", data: JSON.stringify(stepJson(e)) });
      };
      // The steps made so far; with the store away, the live ones still follow.
      const stored = await deps.store.getRenewal(id).catch((err: unknown) => {
        if (err instanceof RotaError && err.code === "store_unavailable") return null;
        throw err;
      });
      for (const e of stored?.events ?? []) await sendStep(e);
      while (!stream.aborted) {
        const e = queued.shift();
        if (e?.type === "renewal.step") {
          await sendStep(e);
          continue;
        }
        if (over) break;
        // A comment line now and then keeps idle-timeouts on either side from closing a long wait.
        await new Promise<void>((resolve) => {
          const cancel = deps.clock.setTimeout(resolve, HEARTBEAT_MS);
          wake = () => {
            cancel();
            resolve();
          };
        });
        if (queued.length === 0 && !over) await stream.write(": waiting\n\n");
      }
      unsubscribe();
      // Every event the renewal emitted is on its way to the store: wait for the writes.
      await deps.bus.drain();
      const final = await deps.store.getRenewal(id);
      for (const e of final?.events ?? []) await sendStep(e);
      if (final) await stream.writeSSE({ event: "end", data: JSON.stringify(renewalJson(final)) });
    }
  });

  return app;
}
