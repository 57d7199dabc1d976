/** @module `GET /api/status`: the daemon and a count of its certs by status. */
import { Hono } from "hono";
import { certStatuses } from "../cert-query.ts";
import { iso, type CertStatus, type StatusJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";

export function statusRoutes(deps: ApiDeps): Hono {
  return new Hono().get("/api/status", async (c) => {
    // Counts only: no cert's JSON is built, and the store is read for the certs that need work alone.
    const certs = await certStatuses(deps, deps.certs.certs());
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
    });
  });
}
