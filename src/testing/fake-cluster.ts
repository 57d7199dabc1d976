/**
 * @module A `ClusterPort` for tests of what users see of cluster mode (routes, CLI,
 * dashboard): it answers with the report it is given and counts step-downs. The real port
 * is the coordinator's (`src/cluster/`), proven against a real database in its own tests.
 */
import type { ClusterBrief, ClusterPort, ClusterStatusBody, StepDownBody } from "../cluster/types.ts";

/** A three-node report as nas-2 sees it: nas-1 leads at term 7, nas-3 is silent and refused www's stored serial. */
export function clusterReport(o: Partial<ClusterStatusBody> = {}): ClusterStatusBody {
  return {
    enabled: true,
    node_id: "nas-2",
    role: "follower",
    term: 7,
    leader: { node_id: "nas-1", since: "2030-01-10T11:00:00.000Z", expires_at: "2030-01-10T12:00:20.000Z" },
    lock_ttl_seconds: 30,
    database: { connected: true, buffered_writes: 0, dropped_writes: 0 },
    nodes: [
      {
        node_id: "nas-1",
        role: "leader",
        alive: true,
        last_heartbeat: "2030-01-10T11:59:55.000Z",
        version: "0.2.0",
        certs: [{ id: "www", stored_serial: "0a1b", installed_serial: "0a1b", state: "in_sync", error: null, checked_at: "2030-01-10T11:59:00.000Z" }],
      },
      {
        node_id: "nas-2",
        role: "follower",
        alive: true,
        last_heartbeat: "2030-01-10T11:59:58.000Z",
        version: "0.2.0",
        certs: [{ id: "www", stored_serial: "0a1b", installed_serial: "09ff", state: "syncing", error: null, checked_at: "2030-01-10T11:59:30.000Z" }],
      },
      {
        node_id: "nas-3",
        role: "follower",
        alive: false,
        last_heartbeat: "2030-01-10T11:40:00.000Z",
        version: "0.1.9",
        certs: [{ id: "www", stored_serial: "0a1b", installed_serial: null, state: "refused", error: "key_mismatch: the stored certificate is not for this node's key /etc/rota/www.key", checked_at: "2030-01-10T11:39:00.000Z" }],
      },
    ],
    recent_events: [{ at: "2030-01-10T11:00:00.000Z", node_id: "nas-1", type: "leader_acquired", term: 7, cert_id: null, serial: null, detail: "took the lease" }],
    ...o,
  };
}

export class FakeClusterPort implements ClusterPort {
  stepDowns = 0;

  constructor(
    public report: ClusterStatusBody = clusterReport(),
    /** What `stepDown` answers; null: this node does not lead. */
    public stepDownReply: StepDownBody | null = null,
  ) {}

  brief(): ClusterBrief {
    const r = this.report;
    return { node_id: r.node_id ?? "", role: r.role ?? "follower", leader: r.leader?.node_id ?? null, term: r.term };
  }

  async status(): Promise<ClusterStatusBody> {
    return this.report;
  }

  async stepDown(): Promise<StepDownBody | null> {
    this.stepDowns++;
    return this.stepDownReply;
  }
}
