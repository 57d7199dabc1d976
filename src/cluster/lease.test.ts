/**
 * @module The lease on the real engine (the test SurrealDB on rocksdb, which detects write
 * conflicts): 20 separate SDK connections race for it 30 rounds, the first on a fresh
 * database; stale fences are refused in the write's own transaction; coordinators on real
 * clocks hand it over and report it in `/api/cluster`'s body.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSurreal, type TestSurreal } from "../../test/harness/surreal.ts";
import { systemClock, systemMonotonic } from "../clock.ts";
import type { SurrealAuditConfig } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { createLogger } from "../log.ts";
import { SurrealClient } from "../store/surreal-client.ts";
import { SurrealAuditStore } from "../store/surreal.ts";
import type { IssuedCert } from "../store/types.ts";
import { SurrealClusterCoordinator } from "./coordinator.ts";
import { recordClusterEvents } from "./event-log.ts";
import { ACQUIRE, RECREATE_LOCK, RELEASE, ttl } from "./lease-sql.ts";
import { ClusterStatus } from "./status.ts";
import type { Fence } from "./types.ts";

const CONTENDERS = 20;
const ROUNDS = 30;
const log = createLogger({ level: "silent" });

let server: TestSurreal;
let dir: string;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-lease-"));
  server = await startSurreal({ dir: join(dir, "server"), engine: "rocksdb" });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh database with its own EDITOR user, migrated by opening a store on it. */
async function freshDatabase(): Promise<{ config: SurrealAuditConfig; store: SurrealAuditStore }> {
  const name = `lease${++n}_${process.pid}`;
  const password = `pw-${crypto.randomUUID()}`;
  await server.database(name, password);
  const stateDir = mkdtempSync(join(dir, "state-"));
  const passwordFile = join(stateDir, "surreal.pass");
  writeFileSync(passwordFile, password, { mode: 0o600 });
  const config: SurrealAuditConfig = {
    backend: "surrealdb",
    url: server.url,
    namespace: "rota",
    database: name,
    username: "rota",
    password: { from: "file", path: passwordFile },
    authLevel: "database",
    caBundle: undefined,
    connectTimeoutSeconds: 10,
    bufferMaxWrites: 1000,
    retentionDays: 400,
  };
  const store = await SurrealAuditStore.open(config, { owner: "test", buffered: true, log, clock: systemClock, stateDir });
  return { config, store };
}

async function client(config: SurrealAuditConfig): Promise<SurrealClient> {
  const c = new SurrealClient(config, { connected: () => {}, disconnected: () => {} });
  await c.connect();
  return c;
}

type Outcome = { won: true; term: number } | { won: false; conflict: boolean };

/** One acquire, never retried: a conflict is "not acquired" (seen in about 1 of 80 losing attempts here). */
async function acquire(c: SurrealClient, node: string, instance: string, seconds = 30): Promise<Outcome> {
  try {
    const [rows] = (await c.query(ACQUIRE, { node, instance, ttl: ttl(seconds) }, 0)) as [{ term: number }[]];
    return rows.length > 0 ? { won: true, term: rows[0]!.term } : { won: false, conflict: false };
  } catch (err) {
    if (err instanceof RotaError && err.code === "store_conflict") return { won: false, conflict: true };
    throw err;
  }
}

function cert(serial: string): IssuedCert {
  const T0 = new Date("2030-01-01T00:00:00Z");
  return { certId: "www", renewalId: `r-${serial}`, leafPem: `leaf ${serial}`, chainPem: "chain", serial, notBefore: T0, notAfter: new Date(T0.getTime() + 90 * 86_400_000), issuedAt: T0 };
}

async function thrown(p: Promise<unknown>): Promise<RotaError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RotaError) return err;
    throw err;
  }
  throw new Error("expected a RotaError");
}

describe("the lease on the real engine", () => {
  test(`${CONTENDERS} connections × ${ROUNDS} rounds, the first on a fresh database: one winner a round, the term +1 each time`, async () => {
    const { config, store } = await freshDatabase();
    const clients = await Promise.all(Array.from({ length: CONTENDERS }, () => client(config)));
    try {
      let previous = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        const outcomes = await Promise.all(clients.map((c, i) => acquire(c, `node-${i}`, `instance-${i}`)));
        const winners = outcomes.flatMap((o, i) => (o.won ? [{ i, term: o.term }] : []));
        expect(winners).toHaveLength(1);
        expect(winners[0]!.term).toBe(previous + 1);
        previous = winners[0]!.term;
        // The holder refreshing keeps its term; another node is refused.
        const w = winners[0]!.i;
        expect(await acquire(clients[w]!, `node-${w}`, `instance-${w}`)).toEqual({ won: true, term: previous });
        const other = (w + 1) % CONTENDERS;
        expect(await acquire(clients[other]!, `node-${other}`, `instance-${other}`)).toEqual({ won: false, conflict: false });
        await clients[w]!.query(RELEASE, { node: `node-${w}`, instance: `instance-${w}` });
      }
      const link = store.clusterLink();
      const [lock] = (await link.query("SELECT holder, term FROM ONLY cluster_lock:singleton")) as [{ holder?: string; term: number }];
      expect(lock).toEqual({ term: ROUNDS });
    } finally {
      await Promise.all([...clients.map((c) => c.close()), store.close()]);
    }
  }, 120_000);

  test("a holder re-taking its own lapsed lease starts a new period; a restarted daemon (new instance) is another holder", async () => {
    const { config, store } = await freshDatabase();
    const c = await client(config);
    try {
      expect(await acquire(c, "nas-1", "a", 1)).toEqual({ won: true, term: 1 });
      expect(await acquire(c, "nas-1", "b")).toEqual({ won: false, conflict: false });
      await Bun.sleep(1100);
      expect(await acquire(c, "nas-1", "a")).toEqual({ won: true, term: 2 });
    } finally {
      await Promise.all([c.close(), store.close()]);
    }
  });

  test("fenced saveIssued: stored with term and node under the live lease; a stale term, another instance, a released or lapsed lease: fenced, nothing stored", async () => {
    const { config, store } = await freshDatabase();
    const c = await client(config);
    try {
      await acquire(c, "nas-1", "a");
      await c.query(RELEASE, { node: "nas-1", instance: "a" });
      expect(await acquire(c, "nas-1", "a")).toEqual({ won: true, term: 2 });
      const live: Fence = { nodeId: "nas-1", instance: "a", term: 2 };
      await store.saveIssued(cert("0a"), live);
      expect(await store.latestIssued("www")).toMatchObject({ serial: "0a", term: 2, node: "nas-1" });

      for (const stale of [
        { ...live, term: 1 },
        { ...live, instance: "b" },
        { ...live, nodeId: "nas-2" },
      ]) {
        const err = await thrown(store.saveIssued(cert("0b"), stale));
        expect(err.code).toBe("fenced");
        expect(err.noRetry).toBe(true);
        expect(err.message).toBe(`cluster: not stored: ${stale.nodeId} no longer holds the lease at term ${stale.term}`);
      }
      await c.query(RELEASE, { node: "nas-1", instance: "a" });
      expect((await thrown(store.saveIssued(cert("0b"), live))).message).toBe("cluster: not stored: nas-1 no longer holds the lease at term 2");
      expect(await acquire(c, "nas-1", "a", 1)).toEqual({ won: true, term: 3 });
      await Bun.sleep(1100);
      expect((await thrown(store.saveIssued(cert("0b"), { ...live, term: 3 }))).code).toBe("fenced");

      const [rows] = (await store.clusterLink().query("SELECT VALUE serial FROM issued_cert")) as [string[]];
      expect(rows).toEqual(["0a"]);
      // Without a fence (a single node) nothing is checked, and the row has no term or node.
      await store.saveIssued(cert("0c"));
      const [c0] = (await store.clusterLink().query("SELECT term, node FROM ONLY issued_cert:['www', '0c']")) as [Record<string, unknown>];
      expect(c0).toEqual({});
    } finally {
      await Promise.all([c.close(), store.close()]);
    }
  });
});

describe("the lease record gone (a restore without it, a stuck lock cleared by deleting it)", () => {
  test(`${CONTENDERS} connections make it again at once: one CREATE wins, at the highest term recorded; then one winner, at that term + 1`, async () => {
    const { config, store } = await freshDatabase();
    const clients = await Promise.all(Array.from({ length: CONTENDERS }, () => client(config)));
    try {
      const link = store.clusterLink();
      expect(await acquire(clients[0]!, "nas-1", "a")).toEqual({ won: true, term: 1 });
      await store.saveIssued(cert("0a"), { nodeId: "nas-1", instance: "a", term: 1 });
      await link.query("UPDATE cluster_lock:singleton SET term = 4 RETURN NONE; CREATE cluster_event SET at = time::now(), node_id = 'nas-2', type = 'leader_acquired', term = 6, cert_id = NULL, serial = NULL, detail = 'x', inserted_at = time::now() RETURN NONE;");
      await link.query("DELETE cluster_lock:singleton");
      expect(await acquire(clients[1]!, "nas-2", "b")).toEqual({ won: false, conflict: false });

      const made = await Promise.allSettled(clients.map((c) => c.query(RECREATE_LOCK, { term: 2 }, 0)));
      expect(made.filter((m) => m.status === "fulfilled")).toHaveLength(1);
      const [lock] = (await link.query("SELECT holder, instance, term FROM ONLY cluster_lock:singleton")) as [Record<string, unknown>];
      expect(lock).toEqual({ term: 6 });

      const outcomes = await Promise.all(clients.map((c, i) => acquire(c, `node-${i}`, `instance-${i}`)));
      expect(outcomes.filter((o) => o.won)).toEqual([{ won: true, term: 7 }]);
    } finally {
      await Promise.all([...clients.map((c) => c.close()), store.close()]);
    }
  }, 60_000);

  test("a coordinator that finds it gone says so, makes it again, and a node leads again above the last term", async () => {
    const { store } = await freshDatabase();
    const link = store.clusterLink();
    const lines: string[] = [];
    const heard = createLogger({ level: "debug", tty: false, write: (line) => void lines.push(line.trimEnd()) });
    const make = (nodeId: string) =>
      new SurrealClusterCoordinator({ config: { nodeId, lockTtlSeconds: 3 }, db: link, clock: systemClock, monotonic: systemMonotonic, emit: () => {}, log: heard, version: "0.2.0", certs: { certs: () => [] } });
    const a = make("nas-1");
    const b = make("nas-2");
    try {
      await a.start();
      await b.start();
      expect(a.fence().term).toBe(1);
      await link.query("DELETE cluster_lock:singleton");
      const until = Date.now() + 6000;
      while (!(a.isLeader() || b.isLeader()) || (a.isLeader() ? a : b).fence().term < 2) {
        if (Date.now() > until) throw new Error(`no leader again: ${lines.join("\n")}`);
        await Bun.sleep(50);
      }
      expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
      expect((a.isLeader() ? a : b).fence().term).toBe(2);
      expect(lines.filter((l) => l.includes("the lease record cluster_lock:singleton is missing"))).not.toHaveLength(0);
      expect(lines.filter((l) => / made the lease record cluster_lock:singleton again, free, at term 1$/.test(l))).toHaveLength(1);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await store.close();
    }
  }, 30_000);
});

describe("coordinators on the real engine", () => {
  test("two nodes: one leads; its step-down hands over within a tick; /api/cluster shows both, the leader and the events", async () => {
    const { store } = await freshDatabase();
    const link = store.clusterLink();
    const bus = new EventBus((err) => {
      throw err;
    });
    recordClusterEvents(bus, link.recordEvent);
    const make = (nodeId: string) =>
      new SurrealClusterCoordinator({
        config: { nodeId, lockTtlSeconds: 3 },
        db: link,
        clock: systemClock,
        monotonic: systemMonotonic,
        emit: (e) => bus.emit(e),
        log,
        version: "0.2.0",
        certs: { certs: () => [] },
      });
    const a = make("nas-1");
    const b = make("nas-2");
    try {
      await a.claim();
      await b.claim();
      await a.start();
      await b.start();
      expect(a.isLeader()).toBe(true);
      expect(b.isLeader()).toBe(false);
      expect(b.leader()).toMatchObject({ nodeId: "nas-1", term: 1 });

      const statusA = new ClusterStatus({ coordinator: a, db: link });
      const body = await statusA.status();
      expect(body).toMatchObject({
        enabled: true,
        node_id: "nas-1",
        role: "leader",
        term: 1,
        leader: { node_id: "nas-1" },
        lock_ttl_seconds: 3,
        database: { connected: true, buffered_writes: 0, dropped_writes: 0 },
      });
      expect(body.nodes.map((x) => [x.node_id, x.role, x.alive, x.version])).toEqual([
        ["nas-1", "leader", true, "0.2.0"],
        ["nas-2", "follower", true, "0.2.0"],
      ]);
      expect(statusA.brief()).toEqual({ node_id: "nas-1", role: "leader", leader: "nas-1", term: 1 });

      const down = await a.stepDown();
      expect(down).toMatchObject({ node_id: "nas-1", term: 1, released: true });
      // The follower's next tick (every second) takes it, at term 2.
      const until = Date.now() + 2500;
      while (!b.isLeader() && Date.now() < until) await Bun.sleep(50);
      expect(b.isLeader()).toBe(true);
      expect(b.fence()).toMatchObject({ nodeId: "nas-2", term: 2 });
      await bus.drain();
      const after = await new ClusterStatus({ coordinator: b, db: link }).status();
      expect(after.recent_events.map((e) => [e.node_id, e.type, e.term])).toEqual([
        ["nas-2", "leader_acquired", 2],
        ["nas-1", "leader_lost", 1],
        ["nas-1", "leader_acquired", 1],
      ]);
      expect(after.recent_events[1]!.detail).toBe("nas-1 stopped leading at term 1: stepped down (step_down)");
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await store.close();
    }
  });
});
