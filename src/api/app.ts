/**
 * @module The daemon's HTTP API (hono). Served on the unix socket today; the dashboard
 * and an authenticated TCP listener mount on this same app later.
 */
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Clock } from "../clock.ts";
import type { ReloadResult } from "../daemon/daemon.ts";
import type { EventBus, RotaEvent } from "../events.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { Runner } from "../scheduler/runner.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { AuditStore } from "../store/types.ts";
import { certJson } from "./cert-view.ts";
import { MAX_RENEWALS_LIMIT, iso, reloadJson, renewResultJson, renewalJson, stepJson } from "./json.ts";

export interface ApiDeps {
  version: string;
  configFile: string;
  startedAt: Date;
  /** The certs watched now come from here: a reload changes them. */
  scheduler: Scheduler;
  runner: Runner;
  store: AuditStore;
  bus: EventBus;
  clock: Clock;
  reload(): Promise<ReloadResult>;
}

const HEARTBEAT_MS = 5_000;
/**
 * How long a status read waits for a first look still in progress (right after a start or
 * reload) before it answers "checking": a target that never answers must not hold it.
 */
const FIRST_LOOK_WAIT_MS = 2_000;

export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();
  const certById = (id: string) => deps.scheduler.watched().certs.find((c) => c.config.id === id);

  async function views(certs: WatchedCert[] = deps.scheduler.watched().certs) {
    if (certs.some((c) => !deps.scheduler.look(c.config.id))) {
      let cancel = () => {};
      await Promise.race([deps.scheduler.firstLooks(), new Promise<void>((resolve) => (cancel = deps.clock.setTimeout(resolve, FIRST_LOOK_WAIT_MS)))]);
      cancel();
    }
    const latest = await deps.store.latestRenewals();
    const now = deps.clock.now();
    const interval = deps.scheduler.watched().config.daemon.checkIntervalSeconds;
    return Promise.all(
      certs.map(async (c) =>
        certJson({
          id: c.config.id,
          domains: c.config.domains,
          now,
          look: deps.scheduler.look(c.config.id),
          busy: deps.runner.busy(c.config.id),
          state: await deps.store.getCertState(c.config.id),
          last: latest.get(c.config.id),
          nextTick: deps.scheduler.nextTickAt(),
          intervalSeconds: interval,
        }),
      ),
    );
  }

  const unknownCert = (c: Context, id: string) => c.json({ error: `unknown cert ${JSON.stringify(id)}` }, 404);

  app.get("/healthz", (c) => c.text("ok"));

  app.get("/api/status", async (c) => {
    const certs = await views();
    const counts: Record<string, number> = {};
    for (const v of certs) counts[v.status] = (counts[v.status] ?? 0) + 1;
    return c.json({
      version: deps.version,
      pid: process.pid,
      config: deps.configFile,
      started_at: deps.startedAt.toISOString(),
      uptime_seconds: Math.round((deps.clock.now().getTime() - deps.startedAt.getTime()) / 1000),
      certs: certs.length,
      by_status: counts,
      check_interval_seconds: deps.scheduler.watched().config.daemon.checkIntervalSeconds,
      next_tick: iso(deps.scheduler.nextTickAt()),
    });
  });

  app.get("/api/certs", async (c) => c.json(await views()));

  app.get("/api/certs/:id", async (c) => {
    const cert = certById(c.req.param("id"));
    if (!cert) return unknownCert(c, c.req.param("id"));
    const [view] = await views([cert]);
    const look = deps.scheduler.look(cert.config.id);
    const issued = await deps.store.latestIssued(cert.config.id);
    return c.json({
      ...view,
      ca: cert.config.ca,
      dcv: cert.config.dcv ?? null,
      install: cert.config.install,
      key_type: cert.config.keyType,
      renew_threshold_days: look?.threshold.days ?? null,
      renew_threshold_source: look?.threshold.source ?? null,
      reason: look?.decision?.reason ?? look?.error ?? null,
      latest_issued: issued ? { serial: issued.serial, not_before: iso(issued.notBefore), not_after: iso(issued.notAfter), issued_at: iso(issued.issuedAt) } : null,
    });
  });

  app.post("/api/certs/:id/renew", async (c) => {
    const cert = certById(c.req.param("id"));
    if (!cert) return unknownCert(c, c.req.param("id"));
    const flag = (name: string) => ["1", "true", "yes"].includes(c.req.query(name) ?? "");
    const result = await deps.scheduler.request(cert, { force: flag("force"), newKey: flag("new_key") });
    const code = result.status === "started" ? 202 : result.status === "not_due" ? 200 : 409;
    return c.json(renewResultJson(result), code);
  });

  app.get("/api/renewals", async (c) => {
    const limit = Number(c.req.query("limit") ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RENEWALS_LIMIT) return c.json({ error: `limit must be an integer from 1 to ${MAX_RENEWALS_LIMIT}` }, 400);
    const certId = c.req.query("cert") || undefined;
    if (certId !== undefined && !certById(certId)) {
      const known = (await deps.store.listRenewals({ certId, limit: 1 })).length > 0;
      if (!known) return unknownCert(c, certId);
    }
    return c.json((await deps.store.listRenewals({ certId, limit })).map(renewalJson));
  });

  app.get("/api/renewals/:id", async (c) => {
    const r = await deps.store.getRenewal(c.req.param("id"));
    return r ? c.json(renewalJson(r)) : c.json({ error: "unknown renewal" }, 404);
  });

  app.post("/api/reload", async (c) => {
    const result = await deps.reload();
    if (!result.ok) return c.json({ status: "invalid", error: `config ${result.file} is not valid; the daemon keeps running on the previous one`, problems: result.problems }, 422);
    return c.json(reloadJson(result));
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
    const running = deps.runner.byRenewalId(id);
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
