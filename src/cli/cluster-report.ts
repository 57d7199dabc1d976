/** @module `GET /api/cluster` for people: `rota cluster status`'s report and `rota status`'s one line. Pure: the commands fetch, these format. */
import type { ClusterEventBody, ClusterStatusBody } from "../cluster/types.ts";
import { table } from "./table.ts";

/** What `rota cluster status` exits 0 on: this node reaches the database, and some node holds a live lease. */
export function clusterHealthy(r: ClusterStatusBody): boolean {
  return r.database?.connected === true && r.leader !== null;
}

/** `cluster: nas-2 follower, leader nas-1 (term 7), 3/3 nodes alive`; the leader says `nas-1 leader (term 7), …`. */
export function clusterLine(r: ClusterStatusBody): string {
  const term = r.term === null ? "" : ` (term ${r.term})`;
  const alive = `${r.nodes.filter((n) => n.alive).length}/${r.nodes.length} nodes alive`;
  if (r.role === "leader") return `cluster: ${r.node_id} leader${term}, ${alive}`;
  const leader = r.leader ? `leader ${r.leader.node_id}${term}` : `no leader${term}`;
  return `cluster: ${r.node_id} ${r.role ?? "follower"}, ${leader}, ${alive}`;
}

/** The whole report: this node and the lease, the database, each node, each node's certs, the recent events. */
export function clusterReport(r: ClusterStatusBody): string {
  const out = [`node ${r.node_id}: ${r.role}${r.term === null ? "" : `, term ${r.term}`}`];
  out.push(r.leader ? `leader: ${r.leader.node_id} since ${r.leader.since}, lease until ${r.leader.expires_at}` : "leader: none: no node leads right now");
  const db = r.database;
  if (db) out.push(`database: ${db.connected ? "connected" : `DISCONNECTED (${db.buffered_writes} writes buffered${db.dropped_writes > 0 ? `, ${db.dropped_writes} dropped` : ""})`}`);
  out.push("", table(["NODE", "ROLE", "ALIVE", "LAST HEARTBEAT", "VERSION"], r.nodes.map((n) => [n.node_id, n.role, n.alive ? "yes" : "NO", n.last_heartbeat, n.version])));
  const certs = r.nodes.flatMap((n) => n.certs.map((c) => [n.node_id, c.id, c.state, c.installed_serial ?? "-", c.stored_serial ?? "-", c.checked_at ?? "-", c.error ?? ""]));
  if (certs.length > 0) out.push("", table(["NODE", "CERT", "STATE", "INSTALLED", "STORED", "CHECKED", "ERROR"], certs));
  if (r.recent_events.length > 0) out.push("", "recent events:", ...r.recent_events.map(eventLine));
  return out.join("\n");
}

/** `  2030-01-10T11:00:00.000Z  nas-3  install_refused www 0a1b: key_mismatch: …`. */
function eventLine(e: ClusterEventBody): string {
  const what = [e.type, e.term === null ? null : `term ${e.term}`, e.cert_id, e.serial].filter((p) => p !== null).join(" ");
  return `  ${e.at}  ${e.node_id}  ${what}${e.detail ? `: ${e.detail}` : ""}`;
}
