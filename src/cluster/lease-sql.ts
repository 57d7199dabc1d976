/**
 * @module The SurrealQL of cluster mode, verbatim (issue 17): the lease (one record,
 * `cluster_lock:singleton`, created by Surreal migration 2, acquired only ever by UPDATE,
 * CREATEd again only when it is gone), the
 * nodes' heartbeats and the reads of `/api/cluster`. Every value is bound, never spliced;
 * each statement's result is the caller's to read (`coordinator.ts`, `status.ts`).
 */
import { Duration, RecordId } from "surrealdb";

export const nodeRecord = (nodeId: string) => new RecordId("cluster_node", nodeId);

/** `$ttl` as SurrealDB's duration. */
export const ttl = (seconds: number) => new Duration(`${seconds}s`);

/**
 * Acquire and refresh in one statement. The SET expressions read the record as it was
 * (verified on engine 3.0.2); `term` and `acquired_at` come before `holder` anyway, in
 * case SET ever applies left to right. An empty result means "not acquired".
 * Bindings: `$node`, `$instance`, `$ttl`.
 */
export const ACQUIRE = `UPDATE cluster_lock:singleton SET
  term = IF holder = $node AND instance = $instance AND expires > time::now() THEN term ELSE term + 1 END,
  acquired_at = IF holder = $node AND instance = $instance AND expires > time::now() THEN acquired_at ELSE time::now() END,
  holder = $node, instance = $instance, expires = time::now() + $ttl
WHERE holder = NONE OR (holder = $node AND instance = $instance) OR expires <= time::now()
RETURN AFTER;`;

/** Gives the lease up; the term stays (the next acquire increments it). Bindings: `$node`, `$instance`. */
export const RELEASE = "UPDATE cluster_lock:singleton SET holder = NONE, instance = NONE, expires = time::now() WHERE holder = $node AND instance = $instance RETURN NONE;";

/** The lease record and the database's clock. */
export const READ_LOCK = "SELECT holder, term, acquired_at, expires FROM ONLY cluster_lock:singleton; RETURN time::now();";

/**
 * Acquire (or refresh), then the lease as it stands and the database's clock: one round
 * trip per tick. The UPDATE's result says whether this node holds the lease; the SELECT
 * names whoever does.
 */
export const TICK = `${ACQUIRE}\n${READ_LOCK}`;

/**
 * The lease record again, free, when it is gone (a restore without it, a "clear stuck lock"
 * by hand): without it no UPDATE matches and no node ever leads. A CREATE of one id is
 * atomic: of nodes racing, one creates it and the others fail ("already exists", or a
 * transaction conflict), then all acquire it as usual, one winning. Its term is the highest
 * any node may have led at, the caller's last seen (`$term`) and those the database still
 * records beside certificates and cluster events, so the next period's term is above every
 * fence already handed out. Binding: `$term`.
 */
export const RECREATE_LOCK = `CREATE cluster_lock:singleton SET holder = NONE, instance = NONE, expires = time::now(),
  term = math::max(array::concat([$term], (SELECT VALUE term FROM issued_cert WHERE term > 0), (SELECT VALUE term FROM cluster_event WHERE term > 0)))
RETURN AFTER;`;

/** A follower's tick (holding off after a step-down): only the read. */
export const OBSERVE = READ_LOCK;

/**
 * This node's heartbeat, by the database's clock. Bindings: `$id` (the node record),
 * `$node`, `$role`, `$version`, `$instance`, `$certs` (JSON text).
 */
export const HEARTBEAT =
  "UPSERT $id CONTENT { node_id: $node, role: $role, heartbeat: time::now(), version: $version, instance: $instance, certs: $certs } RETURN NONE;";

/** The leader forgets nodes silent for a day. */
export const FORGET_SILENT_NODES = "DELETE cluster_node WHERE heartbeat < time::now() - 1d RETURN NONE;";

/** At a clean stop: the lease released and this instance's heartbeat marked as gone, in one round trip. */
export const LEAVE = `${RELEASE}\nUPDATE $id SET instance = NONE WHERE instance = $instance RETURN NONE;`;

/** Who last heartbeated under this node id, and how long ago by the database's clock (ms). Binding: `$id`. */
export const NODE_CLAIM = "SELECT instance, heartbeat, time::millis(time::now()) - time::millis(heartbeat) AS age_ms FROM ONLY $id;";

/** What `/api/cluster` shows: the lease, the nodes, the newest 20 events, the database's clock. */
export const STATUS = `SELECT holder, term, acquired_at, expires FROM ONLY cluster_lock:singleton;
SELECT node_id, role, heartbeat, version, certs FROM cluster_node ORDER BY node_id;
SELECT at, node_id, type, term, cert_id, serial, detail, inserted_at FROM cluster_event ORDER BY at DESC, inserted_at DESC LIMIT 20;
RETURN time::now();`;
