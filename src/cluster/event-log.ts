/**
 * @module Every `cluster.*` event on the bus becomes a `cluster_event` row, through the
 * audit trail's buffer (kept in order through an outage of the database), so
 * `/api/cluster`'s `recent_events` shows what every node saw, the install refusals of
 * InstallSyncTask included.
 */
import { randomUUID } from "node:crypto";
import type { EventBus, RotaEvent } from "../events.ts";
import type { ClusterEventRecord } from "../store/surreal-buffer.ts";
import type { LeaderLostReason } from "./types.ts";

const LOST: Record<LeaderLostReason, string> = {
  step_down: "stepped down",
  refresh_failed: "could not refresh the lease within ⅔ of its TTL",
  superseded: "the lease had lapsed and moved on",
  shutdown: "the daemon stopped",
};

/** The row for a `cluster.*` event, or null for any other event. `id` is new at each call. */
export function clusterEventRecord(e: RotaEvent, id: string = randomUUID()): ClusterEventRecord | null {
  switch (e.type) {
    case "cluster.leader_acquired":
      return { id, at: e.at, nodeId: e.nodeId, type: "leader_acquired", term: e.term, certId: null, serial: null, detail: `${e.nodeId} leads at term ${e.term}` };
    case "cluster.leader_lost":
      return { id, at: e.at, nodeId: e.nodeId, type: "leader_lost", term: e.term, certId: null, serial: null, detail: `${e.nodeId} stopped leading at term ${e.term}: ${LOST[e.reason]} (${e.reason})` };
    case "cluster.install_refused":
      return { id, at: e.at, nodeId: e.nodeId, type: "install_refused", term: null, certId: e.certId, serial: e.serial, detail: e.reason };
    default:
      return null;
  }
}

/** Subscribes; returns the unsubscribe. `record` resolves once the row is stored or buffered. */
export function recordClusterEvents(bus: EventBus, record: (e: ClusterEventRecord) => Promise<void>): () => void {
  return bus.subscribe((event) => {
    const row = clusterEventRecord(event);
    return row ? record(row) : undefined;
  });
}
