/**
 * @module `/api/cluster`'s body as a pure function of what the database returned, the
 * outage answer (the last view, not connected, no leader), and the `cluster_event` rows.
 */
import { describe, expect, test } from "bun:test";
import { RotaError } from "../errors.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { clusterEventRecord } from "./event-log.ts";
import { ClusterStatus, statusBody, type ClusterStatusDeps } from "./status.ts";
import type { ClusterCertBody } from "./types.ts";

const NOW = new Date("2030-01-01T00:00:30Z");
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);
const self = { nodeId: "nas-2", leading: false, ttlMs: 30_000, connected: true, buffered: 0, dropped: 0 };
const lock = { holder: "nas-1", term: 7, acquired_at: ago(600), expires: new Date(NOW.getTime() + 20_000) };
const certs: ClusterCertBody[] = [{ id: "www", stored_serial: "0a", installed_serial: "0a", state: "in_sync", error: null, checked_at: ago(5).toISOString() }];
const nodes = [
  { node_id: "nas-1", role: "leader", heartbeat: ago(2), version: "0.2.0", certs: JSON.stringify(certs) },
  { node_id: "nas-2", role: "follower", heartbeat: ago(59), version: "0.2.0", certs: "[]" },
  { node_id: "nas-3", role: "follower", heartbeat: ago(60), version: "0.1.0", certs: "not json" },
];
const events = [{ at: ago(600), node_id: "nas-1", type: "leader_acquired", term: 7, cert_id: null, serial: null, detail: "nas-1 leads at term 7" }];

describe("statusBody", () => {
  test("the leader from the live lease; alive within 2 × TTL by the database's clock; certs from the heartbeat", () => {
    expect(statusBody(self, lock, nodes, events, NOW)).toEqual({
      enabled: true,
      node_id: "nas-2",
      role: "follower",
      term: 7,
      leader: { node_id: "nas-1", since: ago(600).toISOString(), expires_at: "2030-01-01T00:00:50.000Z" },
      lock_ttl_seconds: 30,
      database: { connected: true, buffered_writes: 0, dropped_writes: 0 },
      nodes: [
        { node_id: "nas-1", role: "leader", alive: true, last_heartbeat: ago(2).toISOString(), version: "0.2.0", certs },
        { node_id: "nas-2", role: "follower", alive: true, last_heartbeat: ago(59).toISOString(), version: "0.2.0", certs: [] },
        { node_id: "nas-3", role: "follower", alive: false, last_heartbeat: ago(60).toISOString(), version: "0.1.0", certs: [] },
      ],
      recent_events: [{ at: ago(600).toISOString(), node_id: "nas-1", type: "leader_acquired", term: 7, cert_id: null, serial: null, detail: "nas-1 leads at term 7" }],
    });
  });

  test("a lapsed or released lease: no leader, every node a follower, the term kept", () => {
    const lapsed = statusBody(self, { ...lock, expires: NOW }, nodes, [], NOW);
    expect(lapsed.leader).toBeNull();
    expect(lapsed.term).toBe(7);
    expect(lapsed.nodes.map((n) => n.role)).toEqual(["follower", "follower", "follower"]);
    expect(statusBody(self, { term: 7, expires: NOW }, [], [], NOW).leader).toBeNull();
  });
});

describe("ClusterStatus", () => {
  const coordinator = {
    nodeId: "nas-2",
    ttlMs: 30_000,
    isLeader: () => false,
    leader: () => ({ nodeId: "nas-1", term: 7, since: ago(600), expiresAt: NOW }),
    currentTerm: () => 7,
    stepDown: async () => null,
  };

  test("during an outage: the last view, database.connected false, leader null", async () => {
    let down = false;
    const db: ClusterStatusDeps["db"] = {
      query: async () => {
        if (down) throw new RotaError("store_unavailable", "audit: SurrealDB at ws://db/rpc is not connected");
        return [lock, nodes, events, NOW];
      },
      health: () => ({ backend: "surrealdb", connected: !down, bufferedWrites: down ? 4 : 0, droppedWrites: 0 }),
    };
    const port = new ClusterStatus({ coordinator, db });
    const up = await port.status();
    down = true;
    const during = await port.status();
    // No node is known to lead: the last view's leader is a follower too, as with a lapsed lease.
    const followers = up.nodes.map((n) => ({ ...n, role: "follower" as const }));
    expect(during).toEqual({ ...up, leader: null, database: { connected: false, buffered_writes: 4, dropped_writes: 0 }, nodes: followers });
    expect(port.brief()).toEqual({ node_id: "nas-2", role: "follower", leader: "nas-1", term: 7 });
  });

  test("the view is read every tick, so an outage shows the nodes even when no one asked before it", async () => {
    let down = false;
    let reads = 0;
    const db: ClusterStatusDeps["db"] = {
      query: async () => {
        reads++;
        if (down) throw new RotaError("store_unavailable", "audit: SurrealDB at ws://db/rpc is not connected");
        return [lock, nodes, events, NOW];
      },
      health: () => ({ backend: "surrealdb", connected: !down, bufferedWrites: 0, droppedWrites: 0 }),
    };
    const clock = new FakeClock(NOW);
    const port = new ClusterStatus({ coordinator, db });
    const stop = port.watch(clock);
    await clock.advance(10_000);
    expect(reads).toBe(1);
    down = true;
    await clock.advance(10_000);
    const during = await port.status();
    expect(during.database).toEqual({ connected: false, buffered_writes: 0, dropped_writes: 0 });
    expect(during.leader).toBeNull();
    expect(during.nodes.map((n) => n.node_id)).toEqual(["nas-1", "nas-2", "nas-3"]);
    expect(during.recent_events).toHaveLength(1);
    stop();
    await clock.advance(30_000);
    expect(reads).toBe(3);
  });

  test("a failure that is not an outage is the caller's (a 500)", async () => {
    const port = new ClusterStatus({
      coordinator,
      db: { query: async () => Promise.reject(new RotaError("store_failed", "audit: SurrealDB: boom")), health: () => ({ backend: "surrealdb", connected: true, bufferedWrites: 0, droppedWrites: 0 }) },
    });
    await expect(port.status()).rejects.toThrow("audit: SurrealDB: boom");
  });
});

test("cluster_event rows: one per cluster.* event, none for others", () => {
  const at = NOW;
  expect(clusterEventRecord({ type: "cluster.leader_lost", nodeId: "nas-1", term: 7, reason: "refresh_failed", at }, "e1")).toEqual({
    id: "e1",
    at,
    nodeId: "nas-1",
    type: "leader_lost",
    term: 7,
    certId: null,
    serial: null,
    detail: "nas-1 stopped leading at term 7: could not refresh the lease within ⅔ of its TTL (refresh_failed)",
  });
  expect(clusterEventRecord({ type: "cluster.install_refused", nodeId: "nas-4", certId: "www", serial: "0a", reason: "key_mismatch: the leaf does not match /etc/ssl/www.key", at }, "e2")).toEqual({
    id: "e2",
    at,
    nodeId: "nas-4",
    type: "install_refused",
    term: null,
    certId: "www",
    serial: "0a",
    detail: "key_mismatch: the leaf does not match /etc/ssl/www.key",
  });
  expect(clusterEventRecord({ type: "cert.due", certId: "www", reason: "x", at })).toBeNull();
});
