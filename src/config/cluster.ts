/**
 * @module The `[cluster]` section: whether this node shares its certs with others through
 * the SurrealDB audit store, under which node id, and the lease and sync timings. Read at
 * start only (a reload keeps the running values).
 */
import { hostname } from "node:os";
import { DEFAULT_LOCK_TTL_SECONDS, DEFAULT_SYNC_INTERVAL_SECONDS, type ClusterConfig } from "../cluster/types.ts";
import { quote, type Reader } from "./reader.ts";

/**
 * Why cluster mode refuses a fresh key (`key_rotation = "every_renewal"`, `rota renew
 * --new-key`): the leader's order carries one public key, and every node installs the
 * certificate with its own copy of the private key.
 */
export const SAME_KEY_REASON = "every node must hold the same key (see docs/federation.md)";

const NODE_ID = /^[a-z0-9][a-z0-9._-]*$/;
const NODE_ID_MAX = 64;

export function isNodeId(s: string): boolean {
  return s.length <= NODE_ID_MAX && NODE_ID.test(s);
}

/** `host` is the machine's name; injected so tests do not depend on where they run. */
export function readCluster(r: Reader, host: string = hostname()): ClusterConfig {
  const enabled = r.bool("enabled", false);
  const lockTtlSeconds = r.int("lock_ttl_seconds", { min: 3, max: 600, fallback: DEFAULT_LOCK_TTL_SECONDS });
  const syncIntervalSeconds = r.int("sync_interval_seconds", { min: 1, max: 86400, fallback: DEFAULT_SYNC_INTERVAL_SECONDS });
  let nodeId = r.string("node_id");
  if (nodeId !== undefined && !isNodeId(nodeId)) {
    r.problem("node_id", `${quote(nodeId)} is not a valid node id: [a-z0-9][a-z0-9._-]*, at most ${NODE_ID_MAX} characters`);
  } else if (nodeId === undefined) {
    const fromHost = host.toLowerCase();
    if (isNodeId(fromHost)) nodeId = fromHost;
    else if (enabled) r.problem("node_id", `is required: the host name ${quote(host)} is not a valid node id`);
  }
  r.finish();
  return { enabled, nodeId: nodeId ?? "", lockTtlSeconds, syncIntervalSeconds };
}
