/**
 * @module Cluster mode's shared shapes: the lease a leader holds, the fence its writes
 * carry, and the report `GET /api/cluster` and `rota cluster status --json` return.
 */
import type { RenewalHead } from "../store/types.ts";

/** Proof a write comes from the current lease holder: the Surreal store checks it in the write's own transaction. */
export interface Fence {
  nodeId: string;
  /** Random per daemon start: a restarted node, or a second daemon with the same node id, is another holder. */
  instance: string;
  term: number;
}

/** The live lease: who holds it, at which term, until when (the database clock). */
export interface LeaderInfo {
  nodeId: string;
  term: number;
  /** When this leadership period began. */
  since: Date;
  expiresAt: Date;
}

/** `[cluster]`, read at start only. */
export interface ClusterConfig {
  enabled: boolean;
  /** `[a-z0-9][a-z0-9._-]*`, ≤ 64 chars; defaults to the host name lowercased. */
  nodeId: string;
  lockTtlSeconds: number;
  syncIntervalSeconds: number;
}

export const DEFAULT_LOCK_TTL_SECONDS = 30;
export const DEFAULT_SYNC_INTERVAL_SECONDS = 60;

/** Why a leader stopped leading. */
export type LeaderLostReason = "step_down" | "refresh_failed" | "superseded" | "shutdown";

/** One cert's state on one node, as its InstallSyncTask last saw it. */
export type CertSyncState = "in_sync" | "behind" | "syncing" | "refused" | "failed" | "no_certificate";

/** JSON body of `GET /api/cluster`: snake_case, every key always present. */
export interface ClusterStatusBody {
  enabled: boolean;
  node_id: string | null;
  role: "leader" | "follower" | null;
  term: number | null;
  leader: { node_id: string; since: string; expires_at: string } | null;
  lock_ttl_seconds: number | null;
  database: { connected: boolean; buffered_writes: number; dropped_writes: number } | null;
  nodes: ClusterNodeBody[];
  recent_events: ClusterEventBody[];
}

export interface ClusterNodeBody {
  node_id: string;
  role: "leader" | "follower";
  /** Heartbeat within 2 × TTL by the database clock. */
  alive: boolean;
  last_heartbeat: string;
  version: string;
  certs: ClusterCertBody[];
}

export interface ClusterCertBody {
  id: string;
  stored_serial: string | null;
  installed_serial: string | null;
  state: CertSyncState;
  error: string | null;
  checked_at: string | null;
}

export interface ClusterEventBody {
  at: string;
  node_id: string;
  /** `leader_acquired` | `leader_lost` | `install_refused`. */
  type: string;
  term: number | null;
  cert_id: string | null;
  serial: string | null;
  detail: string;
}

/** `POST /api/cluster/step-down` when this node led. */
export interface StepDownBody {
  node_id: string;
  term: number;
  /** False: the database was unreachable; the node stopped leading anyway. */
  released: boolean;
  hold_until: string;
}

/** `GET /api/status`'s `cluster` key. */
export interface ClusterBrief {
  node_id: string;
  role: "leader" | "follower";
  leader: string | null;
  term: number | null;
}

/** What a node reports of its certs at each heartbeat (InstallSyncTask's view), for `nodes[].certs`. */
export interface NodeCertsSource {
  certs(): ClusterCertBody[];
}

/**
 * A cluster node's own failure to put a stored certificate on its targets (a failed or
 * refused sync run), backed off in memory: the shared `cert_state` is the leader's orders',
 * so this is the cert's failure state on this node while that certificate is what it lacks.
 * A new object at every change, the same one until then.
 */
export interface NodeInstallFailure {
  serial: string;
  /** Failed or refused runs of this serial in a row. */
  failures: number;
  /** No run of this serial before then. */
  retryAt: Date;
  /** This node's key cannot serve the certificate (`key_missing`, `key_mismatch`, `key_invalid`). */
  refused: boolean;
  /** The last failed run, as its audit row says it. */
  run: RenewalHead;
}

/** What the API needs of cluster mode; absent (null) when `[cluster] enabled` is false. */
export interface ClusterPort {
  /** Synchronous: this node's view, no database read. */
  brief(): ClusterBrief;
  status(): Promise<ClusterStatusBody>;
  /** Null when this node does not lead: the answer is then 409 naming the leader. */
  stepDown(): Promise<StepDownBody | null>;
}
