/**
 * @module Cluster mode in the daemon: the coordinator on the store's own connection, the
 * `cluster_event` rows of every `cluster.*` event, and the API's port. Loaded only when
 * `[cluster] enabled` (the coordinator brings the SurrealDB SDK, which the store loaded already).
 */
import type { Clock, Monotonic } from "../clock.ts";
import type { SurrealClusterCoordinator } from "../cluster/coordinator.ts";
import type { ClusterConfig, ClusterPort, LeaderLostReason, NodeCertsSource } from "../cluster/types.ts";
import { describeError, RotaError } from "../errors.ts";
import type { EventBus } from "../events.ts";
import type { Logger } from "../log.ts";
import type { ClusterLink } from "../store/surreal.ts";
import type { AuditStore } from "../store/types.ts";

export interface DaemonCluster {
  coordinator: SurrealClusterCoordinator;
  port: ClusterPort;
  /** The first acquire attempt (awaited), then the ticks, and the API's view read at each. */
  start(): Promise<void>;
  /** Releases the lease within 1 s, and stops recording cluster events. */
  stop(): Promise<void>;
}

export interface DaemonClusterDeps {
  config: ClusterConfig;
  store: AuditStore;
  bus: EventBus;
  clock: Clock;
  monotonic: Monotonic;
  log: Logger;
  version: string;
  certs: NodeCertsSource;
  onAcquired?(term: number): void;
  onLost?(reason: LeaderLostReason): void;
}

/** Whether `store` can carry cluster mode (the SurrealDB store). */
function hasClusterLink(store: AuditStore): store is AuditStore & { clusterLink(): ClusterLink } {
  return typeof (store as { clusterLink?: unknown }).clusterLink === "function";
}

/**
 * Refuses a daemon without `[cluster]` on a database whose cluster lease is live: it would
 * order with its own key and store certificates unfenced, which every node then refuses to
 * install (the key does not match) and the leader does not replace (they are not due).
 * A database the question cannot be put to now (an outage) is not refused: the start goes on
 * as it does through an outage.
 */
export async function refuseBesideCluster(store: AuditStore, log: Logger): Promise<void> {
  if (!hasClusterLink(store)) return;
  const [{ READ_LOCK }, { liveLeader, toDate }] = await Promise.all([import("../cluster/lease-sql.ts"), import("../cluster/coordinator.ts")]);
  let leader;
  try {
    const [lock, dbNow] = await store.clusterLink().query(READ_LOCK);
    leader = liveLeader(lock as Record<string, unknown> | undefined, toDate(dbNow));
  } catch (err) {
    log.warn(`cluster: cannot tell whether a rota cluster uses this database (${describeError(err)}); starting without [cluster]`);
    return;
  }
  if (!leader) return;
  throw new RotaError(
    "cluster_database",
    `cluster: the [audit] database is a rota cluster's (${leader.nodeId} leads at term ${leader.term}); a daemon without [cluster] would store certificates no node can install: add [cluster] with this node's node_id (docs/federation.md), or give [audit] another database`,
  );
}

/**
 * Builds cluster mode and claims this node's id: throws `RotaError("node_in_use")` when
 * another live daemon heartbeats under it. Call before the store's rows of this node are touched.
 */
export async function claimCluster(deps: DaemonClusterDeps): Promise<DaemonCluster> {
  if (!hasClusterLink(deps.store)) throw new RotaError("cluster_store", 'cluster: needs [audit] backend = "surrealdb": the lease and the issued certificates live in the shared database');
  const [{ SurrealClusterCoordinator }, { ClusterStatus }, { recordClusterEvents }] = await Promise.all([
    import("../cluster/coordinator.ts"),
    import("../cluster/status.ts"),
    import("../cluster/event-log.ts"),
  ]);
  const link = deps.store.clusterLink();
  const unsubscribe = recordClusterEvents(deps.bus, link.recordEvent);
  const coordinator = new SurrealClusterCoordinator({
    config: deps.config,
    db: link,
    clock: deps.clock,
    monotonic: deps.monotonic,
    emit: (e) => deps.bus.emit(e),
    log: deps.log,
    version: deps.version,
    certs: deps.certs,
    onAcquired: deps.onAcquired,
    onLost: deps.onLost,
  });
  try {
    await coordinator.claim();
  } catch (err) {
    unsubscribe();
    throw err;
  }
  const port = new ClusterStatus({ coordinator, db: link });
  let unwatch = () => {};
  return {
    coordinator,
    port,
    async start() {
      await coordinator.start();
      unwatch = port.watch(deps.clock);
    },
    async stop() {
      unwatch();
      // The `shutdown` event is recorded (buffered) before the subscription ends.
      await coordinator.stop();
      unsubscribe();
    },
  };
}
