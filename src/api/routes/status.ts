/**
 * @module `GET /api/status`: the daemon, a count of its certs by status, and its audit
 * store's connection. It answers during an outage of the store's server too, without
 * reading the store: the counts then come from the scheduler's looks.
 */
import { Hono } from "hono";
import { certStatuses, certStatusesWithoutStore } from "../cert-query.ts";
import { iso, type CertStatus, type StatusJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";

export function statusRoutes(deps: ApiDeps): Hono {
  return new Hono().get("/api/status", async (c) => {
    // Counts only: no cert's JSON is built, and the store is read for the certs that need work alone.
    const audit = deps.store.health();
    const certs = audit.connected ? await certStatuses(deps, deps.certs.certs()) : certStatusesWithoutStore(deps, deps.certs.certs());
    const counts: Partial<Record<CertStatus, number>> = {};
    for (const r of certs) counts[r.status] = (counts[r.status] ?? 0) + 1;
    return c.json<StatusJson>({
      version: deps.version,
      pid: process.pid,
      config: deps.configFile,
      started_at: deps.startedAt.toISOString(),
      uptime_seconds: Math.round((deps.clock.now().getTime() - deps.startedAt.getTime()) / 1000),
      certs: certs.length,
      by_status: counts,
      check_interval_seconds: deps.certs.checkIntervalSeconds(),
      next_tick: iso(deps.certs.nextTickAt()),
      audit: { backend: audit.backend, connected: audit.connected, buffered_writes: audit.bufferedWrites, dropped_writes: audit.droppedWrites },
      cluster: deps.cluster?.brief() ?? null,
    });
  });
}
