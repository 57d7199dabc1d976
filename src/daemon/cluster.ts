/**
 * @module Cluster mode in the daemon: the coordinator on the store's own connection, the
 * `cluster_event` rows of every `cluster.*` event, and the API's port. Loaded only when
 * `[cluster] enabled` (the coordinator brings the SurrealDB SDK, which the store loaded already).
 */
import type { Clock, Monotonic } from "../clock.ts";
import type { SurrealClusterCoordinator } from "../cluster/coordinator.ts";
import type { ClusterConfig, ClusterPort, LeaderLostReason, NodeCertsSource } from "../cluster/types.ts";
import { RotaError } from "../errors.ts";
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
