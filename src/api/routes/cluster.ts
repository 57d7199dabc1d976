/**
 * @module Cluster mode's routes (issue 17): `GET /api/cluster`, this node's view of the
 * lease, the nodes and their installs, the same body as `rota cluster status --json`; and
 * `POST /api/cluster/step-down`, giving up the lease when this node holds it.
 */
import { Hono } from "hono";
import type { ClusterStatusBody, StepDownBody } from "../../cluster/types.ts";
import type { ErrorJson, NotLeaderJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";

/** `GET /api/cluster` with `[cluster]` off: every key present, so scripts read one shape. */
export const CLUSTER_OFF: ClusterStatusBody = {
  enabled: false,
  node_id: null,
  role: null,
  term: null,
  leader: null,
  lock_ttl_seconds: null,
  database: null,
  nodes: [],
  recent_events: [],
};

export const CLUSTER_OFF_ERROR = "cluster mode is off ([cluster] enabled = false)";

export function clusterRoutes(deps: ApiDeps): Hono {
  const app = new Hono();

  app.get("/api/cluster", async (c) => c.json<ClusterStatusBody>(deps.cluster ? await deps.cluster.status() : CLUSTER_OFF));

  app.post("/api/cluster/step-down", async (c) => {
    const cluster = deps.cluster;
    // A request that cannot apply to this daemon at all: the CLI maps 400 to a usage error (exit 2).
    if (!cluster) return c.json<ErrorJson>({ error: CLUSTER_OFF_ERROR }, 400);
    const done = await cluster.stepDown();
    if (!done) return c.json<NotLeaderJson>({ error: "not the leader", leader: cluster.brief().leader }, 409);
    return c.json<StepDownBody>(done);
  });

  return app;
}
