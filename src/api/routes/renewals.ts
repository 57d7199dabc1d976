/** @module The audit routes: the renewals searched and paged, one renewal, and one renewal's steps live (server-sent events). */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { RotaEvent, Trigger } from "../../events.ts";
import type { RenewalStatus } from "../../store/types.ts";
import { MAX_RENEWALS_LIMIT, renewalJson, stepJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";
import { intParam, listParam, timeParam } from "../query.ts";
import { unknownCert } from "./certs.ts";

const HEARTBEAT_MS = 5_000;

// Every value, checked against its type by the compiler: a new one cannot be left out of the filters.
const TRIGGERS = Object.keys({ scheduled: 0, manual: 0, startup: 0, reload: 0 } satisfies Record<Trigger, 0>) as Trigger[];
const RENEWAL_STATUSES = Object.keys({ running: 0, succeeded: 0, failed: 0, interrupted: 0 } satisfies Record<RenewalStatus, 0>) as RenewalStatus[];

export function renewalRoutes(deps: ApiDeps): Hono {
  const app = new Hono();

  app.get("/api/renewals", async (c) => {
    const param = (name: string) => c.req.query(name);
    const limit = intParam(param("limit"), "limit", { min: 1, max: MAX_RENEWALS_LIMIT, fallback: 20 });
    const statuses = listParam(param("status"), "status", RENEWAL_STATUSES);
    const triggers = listParam(param("trigger"), "trigger", TRIGGERS);
    const since = timeParam(param("since"), "since");
    const until = timeParam(param("until"), "until");
    if (since && until && until <= since) return c.json({ error: "until must be later than since" }, 400);
    const before = param("before") || undefined;
    // A cursor that names nothing would answer an empty page, which reads as "no older renewals".
    if (before !== undefined && !(await deps.store.getRenewal(before))) {
      return c.json({ error: "before must be the id of a renewal in the audit trail: the last one of the previous page" }, 400);
    }
    const certId = param("cert") || undefined;
    if (certId !== undefined && !deps.certs.find(certId)) {
      const known = (await deps.store.listRenewals({ certId, limit: 1 })).length > 0;
      if (!known) return unknownCert(c, certId);
    }
    return c.json((await deps.store.listRenewals({ certId, statuses, triggers, since, until, before, limit })).map(renewalJson));
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
      stream.onAbort(unsubscribe);
      const sent = new Set<string>();
      const sendStep = async (e: { step: string; at: Date; status: string; message: string; durationMs: number }) => {
        const key = `${e.step}|${e.at.getTime()}|${e.status}`;
        if (sent.has(key)) return;
        sent.add(key);
        await stream.writeSSE({ event: "step", data: JSON.stringify(stepJson(e)) });
      };
      const stored = await deps.store.getRenewal(id);
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
    });
  });

  return app;
}
