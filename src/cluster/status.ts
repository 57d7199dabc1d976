/**
 * @module The API's `ClusterPort` on a cluster node: `GET /api/cluster` read from the shared
 * database (the lease, `cluster_node`, the newest `cluster_event`s, judged by the database's
 * clock), the brief `/api/status` carries, and step-down. During an outage it answers with
 * the last view it read, `database.connected` false and no leader.
 */
import type { Cancel, Clock } from "../clock.ts";
import { isUnavailable } from "../store/surreal-client.ts";
import type { ClusterLink } from "../store/surreal.ts";
import { liveLeader, toDate, type SurrealClusterCoordinator } from "./coordinator.ts";
import { STATUS } from "./lease-sql.ts";
import type { ClusterBrief, ClusterCertBody, ClusterEventBody, ClusterNodeBody, ClusterPort, ClusterStatusBody, StepDownBody } from "./types.ts";

type Row = Record<string, unknown>;

export interface ClusterStatusDeps {
  coordinator: Pick<SurrealClusterCoordinator, "nodeId" | "ttlMs" | "isLeader" | "leader" | "currentTerm" | "stepDown">;
  db: Pick<ClusterLink, "query" | "health">;
}

/** The `/api/cluster` body from what `STATUS` read, at the database's time `dbNow`. Pure. */
export function statusBody(
  self: { nodeId: string; leading: boolean; ttlMs: number; connected: boolean; buffered: number; dropped: number },
  lock: Row | undefined,
  nodes: Row[],
  events: Row[],
  dbNow: Date,
): ClusterStatusBody {
  const leader = liveLeader(lock, dbNow);
  return {
    enabled: true,
    node_id: self.nodeId,
    role: self.leading ? "leader" : "follower",
    term: (lock?.term as number | undefined) ?? null,
    leader: leader ? { node_id: leader.nodeId, since: leader.since.toISOString(), expires_at: leader.expiresAt.toISOString() } : null,
    lock_ttl_seconds: self.ttlMs / 1000,
    database: { connected: self.connected, buffered_writes: self.buffered, dropped_writes: self.dropped },
    nodes: nodes.map((n): ClusterNodeBody => {
      const heartbeat = toDate(n.heartbeat);
      return {
        node_id: n.node_id as string,
        role: leader?.nodeId === n.node_id ? "leader" : "follower",
        alive: dbNow.getTime() - heartbeat.getTime() < 2 * self.ttlMs,
        last_heartbeat: heartbeat.toISOString(),
        version: n.version as string,
        certs: parseCerts(n.certs),
      };
    }),
    recent_events: events.map(
      (e): ClusterEventBody => ({
        at: toDate(e.at).toISOString(),
        node_id: e.node_id as string,
        type: e.type as string,
        term: (e.term as number | null | undefined) ?? null,
        cert_id: (e.cert_id as string | null | undefined) ?? null,
        serial: (e.serial as string | null | undefined) ?? null,
        detail: e.detail as string,
      }),
    ),
  };
}

/** A heartbeat's `certs` (JSON text); a row a newer or broken writer left reads as no certs. */
function parseCerts(v: unknown): ClusterCertBody[] {
  try {
    const parsed = JSON.parse(String(v)) as unknown;
    return Array.isArray(parsed) ? (parsed as ClusterCertBody[]) : [];
  } catch {
    return [];
  }
}

export class ClusterStatus implements ClusterPort {
  /** The last body read from the database: what an outage shows. */
  private last: ClusterStatusBody | null = null;

  constructor(private readonly deps: ClusterStatusDeps) {}

  brief(): ClusterBrief {
    const c = this.deps.coordinator;
    return { node_id: c.nodeId, role: c.isLeader() ? "leader" : "follower", leader: c.leader()?.nodeId ?? null, term: c.currentTerm() };
  }

  /**
   * Reads the view every tick (⅓ TTL), so an outage shows the nodes and events as they last
   * stood even when nobody asked before it. A read still waiting is not doubled; a failed one
   * leaves the last view (the next request reports what is wrong).
   */
  watch(clock: Clock): Cancel {
    let reading = false;
    return clock.setInterval(() => {
      if (reading) return;
      reading = true;
      this.status()
        .catch(() => {})
        .finally(() => {
          reading = false;
        });
    }, this.deps.coordinator.ttlMs / 3);
  }

  async status(): Promise<ClusterStatusBody> {
    const c = this.deps.coordinator;
    const health = this.deps.db.health();
    const self = { nodeId: c.nodeId, leading: c.isLeader(), ttlMs: c.ttlMs, connected: health.connected, buffered: health.bufferedWrites, dropped: health.droppedWrites };
    try {
      const [lock, nodes, events, dbNow] = await this.deps.db.query(STATUS);
      this.last = statusBody(self, lock as Row | undefined, nodes as Row[], events as Row[], toDate(dbNow));
      return this.last;
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      return {
        enabled: true,
        node_id: c.nodeId,
        role: self.leading ? "leader" : "follower",
        term: c.currentTerm() ?? this.last?.term ?? null,
        leader: null,
        lock_ttl_seconds: c.ttlMs / 1000,
        database: { connected: false, buffered_writes: health.bufferedWrites, dropped_writes: health.droppedWrites },
        // No node is known to lead: the last view's leader is shown as a follower, as with a lapsed lease.
        nodes: (this.last?.nodes ?? []).map((n) => ({ ...n, role: "follower" as const })),
        recent_events: this.last?.recent_events ?? [],
      };
    }
  }

  stepDown(): Promise<StepDownBody | null> {
    return this.deps.coordinator.stepDown();
  }
}
