/**
 * @module The coordinator on a fake clock against a fake database that keeps the lease by
 * the rules (the real statements run in `lease.test.ts`): the tick schedule, the
 * ⅔-TTL deadline while a refresh hangs, the hold after a step-down, another term on refresh,
 * the release at stop, and the node-id claim.
 */
import { describe, expect, test } from "bun:test";
import { RotaError } from "../errors.ts";
import type { RotaEvent } from "../events.ts";
import { createLogger } from "../log.ts";
import { FakeClock, settle } from "../testing/fake-clock.ts";
import { SurrealClusterCoordinator, type CoordinatorOptions } from "./coordinator.ts";
import { HEARTBEAT, LEAVE, NODE_CLAIM, OBSERVE, RELEASE, TICK } from "./lease-sql.ts";
import type { LeaderLostReason } from "./types.ts";

const TTL_S = 30;
const TTL = TTL_S * 1000;
type Row = Record<string, unknown>;

/** The lease record and the node rows, kept as the statements of `lease-sql.ts` keep them, by `clock`. */
class FakeDb {
  holder: string | undefined;
  instance: string | undefined;
  term = 0;
  expires: number;
  acquiredAt = 0;
  readonly nodes = new Map<string, { instance: string | undefined; heartbeat: number; role: string; certs: string }>();
  readonly calls: { sql: string; bindings: Row }[] = [];
  /** While set, every query waits for it. */
  private gate: Promise<void> | null = null;
  down = false;

  constructor(private readonly clock: FakeClock) {
    this.expires = clock.now().getTime();
  }

  /** Every query from now on hangs until the returned function is called. */
  hang(): () => void {
    let open = () => {};
    this.gate = new Promise<void>((resolve) => (open = resolve));
    return () => {
      this.gate = null;
      open();
    };
  }

  count(sql: string): number {
    return this.calls.filter((c) => c.sql === sql).length;
  }

  query = async (sql: string, bindings: Row = {}): Promise<unknown[]> => {
    this.calls.push({ sql, bindings });
    if (this.gate) await this.gate;
    if (this.down) throw new RotaError("store_unavailable", "audit: SurrealDB at ws://db/rpc is not connected");
    const now = this.clock.now().getTime();
    const node = bindings.node as string;
    const instance = bindings.instance as string;
    if (sql === TICK) return [this.acquire(node, instance, now), this.lockRow(), new Date(now)];
    if (sql === OBSERVE) return [this.lockRow(), new Date(now)];
    if (sql === RELEASE || sql === LEAVE) {
      if (this.holder === node && this.instance === instance) this.release(now);
      if (sql === LEAVE) {
        const n = this.nodes.get(node);
        if (n?.instance === instance) n.instance = undefined;
      }
      return [[]];
    }
    if (sql === NODE_CLAIM) {
      const id = (bindings.id as { id: string }).id;
      const n = this.nodes.get(id);
      return [n ? { instance: n.instance, heartbeat: new Date(n.heartbeat), age_ms: now - n.heartbeat } : undefined];
    }
    if (sql.startsWith(HEARTBEAT)) {
      this.nodes.set(node, { instance, heartbeat: now, role: bindings.role as string, certs: bindings.certs as string });
      return [[]];
    }
    throw new Error(`unexpected query ${sql}`);
  };

  acquire(node: string, instance: string, now: number): Row[] {
    const mine = this.holder === node && this.instance === instance;
    if (!(this.holder === undefined || mine || this.expires <= now)) return [];
    if (!(mine && this.expires > now)) {
      this.term++;
      this.acquiredAt = now;
    }
    this.holder = node;
    this.instance = instance;
    this.expires = now + TTL;
    return [this.lockRow()];
  }

  release(now: number): void {
    this.holder = undefined;
    this.instance = undefined;
    this.expires = now;
  }

  lockRow(): Row {
    return { holder: this.holder, instance: this.instance, term: this.term, acquired_at: new Date(this.acquiredAt), expires: new Date(this.expires) };
  }
}

interface Rig {
  clock: FakeClock;
  db: FakeDb;
  c: SurrealClusterCoordinator;
  events: RotaEvent[];
  acquired: number[];
  lost: LeaderLostReason[];
}

function rig(over: Partial<CoordinatorOptions> = {}, clock = new FakeClock(), db = new FakeDb(clock)): Rig {
  const events: RotaEvent[] = [];
  const acquired: number[] = [];
  const lost: LeaderLostReason[] = [];
  const c = new SurrealClusterCoordinator({
    config: { nodeId: "nas-1", lockTtlSeconds: TTL_S },
    db,
    clock,
    monotonic: () => clock.now().getTime(),
    emit: (e) => events.push(e),
    log: createLogger({ level: "silent" }),
    version: "0.2.0",
    certs: { certs: () => [{ id: "www", stored_serial: "0a", installed_serial: "0a", state: "in_sync", error: null, checked_at: null }] },
    onAcquired: (t) => acquired.push(t),
    onLost: (r) => lost.push(r),
    instance: "inst-1",
    ...over,
  });
  return { clock, db, c, events, acquired, lost };
}

const types = (events: RotaEvent[]) => events.map((e) => (e.type === "cluster.leader_lost" ? `${e.type} ${e.term} ${e.reason}` : e.type === "cluster.leader_acquired" ? `${e.type} ${e.term}` : e.type));

describe("SurrealClusterCoordinator", () => {
  test("start awaits the first acquire; then a tick every ⅓ TTL, each an acquire-or-refresh and a heartbeat", async () => {
    const { clock, db, c, events, acquired } = rig();
    await c.start();
    expect(c.isLeader()).toBe(true);
    expect(acquired).toEqual([1]);
    expect(types(events)).toEqual(["cluster.leader_acquired 1"]);
    expect(c.fence()).toEqual({ nodeId: "nas-1", instance: "inst-1", term: 1 });
    expect(c.leader()).toMatchObject({ nodeId: "nas-1", term: 1 });
    expect(db.count(TICK)).toBe(1);
    expect(db.calls[0]!.bindings).toMatchObject({ node: "nas-1", instance: "inst-1" });
    expect(String(db.calls[0]!.bindings.ttl)).toBe("30s");

    await clock.advance(TTL / 3 - 1);
    expect(db.count(TICK)).toBe(1);
    await clock.advance(1);
    expect(db.count(TICK)).toBe(2);
    await clock.advance(TTL);
    expect(db.count(TICK)).toBe(5);
    expect(c.isLeader()).toBe(true);
    expect(acquired).toEqual([1]);
    expect(db.term).toBe(1);
    // The leader's heartbeat also forgets nodes silent for a day.
    const beats = db.calls.filter((x) => x.sql.startsWith(HEARTBEAT));
    expect(beats).toHaveLength(5);
    expect(beats[4]!.sql).toContain("DELETE cluster_node WHERE heartbeat < time::now() - 1d");
    expect(beats[4]!.bindings).toMatchObject({ role: "leader", version: "0.2.0", instance: "inst-1" });
    expect(JSON.parse(beats[4]!.bindings.certs as string)).toEqual([{ id: "www", stored_serial: "0a", installed_serial: "0a", state: "in_sync", error: null, checked_at: null }]);
    await c.stop();
  });

  test("a follower: the lease is another's; leader() names it, fence() proves nothing it could pass", async () => {
    const clock = new FakeClock();
    const db = new FakeDb(clock);
    db.acquire("nas-2", "other", clock.now().getTime());
    const { c, events } = rig({}, clock, db);
    await c.start();
    expect(c.isLeader()).toBe(false);
    expect(c.leader()).toMatchObject({ nodeId: "nas-2", term: 1 });
    expect(c.fence()).toEqual({ nodeId: "nas-1", instance: "inst-1", term: 0 });
    expect(events).toEqual([]);
    expect(db.calls.find((x) => x.sql.startsWith(HEARTBEAT))!.bindings.role).toBe("follower");
    // nas-2 stops refreshing: after its expiry the next tick takes the lease at term 2.
    await clock.advance(TTL);
    expect(c.isLeader()).toBe(true);
    expect(types(events)).toEqual(["cluster.leader_acquired 2"]);
    await c.stop();
  });

  test("a refresh that hangs: leading ends at ⅔ TTL after the last successful send, ⅓ TTL before the lease lapses", async () => {
    const { clock, db, c, events, lost } = rig();
    await c.start();
    const open = db.hang();
    await clock.advance((TTL * 2) / 3 - 1);
    expect(db.count(TICK)).toBe(2);
    expect(c.isLeader()).toBe(true);
    await clock.advance(1);
    expect(c.isLeader()).toBe(false);
    expect(lost).toEqual(["refresh_failed"]);
    expect(types(events)).toEqual(["cluster.leader_acquired 1", "cluster.leader_lost 1 refresh_failed"]);
    expect(c.leader()).toBeNull();
    // The hung tick is not doubled while it waits (the one due at 20 s was not sent).
    await clock.advance(5000);
    expect(db.count(TICK)).toBe(2);
    // Its answer comes while the lease is still ours in the database, at the same term: this
    // node never leads twice under one term, so it hands the lease back; the next period is term 2.
    open();
    await settle();
    expect(c.isLeader()).toBe(false);
    expect(db.count(RELEASE)).toBe(1);
    expect(db.holder).toBeUndefined();
    await clock.advance(5000);
    expect(c.isLeader()).toBe(true);
    expect(types(events).slice(2)).toEqual(["cluster.leader_acquired 2"]);
    await c.stop();
  });

  test("a deadline timer that fires early (Bun rounds a fractional delay down) waits out the rest: refresh_failed at the deadline, not later", async () => {
    const clock = new FakeClock();
    const origin = clock.now().getTime();
    // The monotonic clock runs a hair behind the timers, as a timer armed for 19999.6 ms that fires after 19999.
    const { db, c, lost, events } = rig({ monotonic: () => (clock.now().getTime() - origin) * 0.9999 }, clock);
    await c.start();
    const open = db.hang();
    await clock.advance((TTL * 2) / 3 + 10);
    expect(c.isLeader()).toBe(false);
    expect(lost).toEqual(["refresh_failed"]);
    expect(types(events)).toEqual(["cluster.leader_acquired 1", "cluster.leader_lost 1 refresh_failed"]);
    open();
    await c.stop();
  });

  test("isLeader() checks the deadline itself, without its timer having fired", async () => {
    const clock = new FakeClock();
    let mono = 0;
    const { c } = rig({ monotonic: () => mono }, clock);
    await c.start();
    expect(c.isLeader()).toBe(true);
    mono = (TTL * 2) / 3 - 1;
    expect(c.isLeader()).toBe(true);
    mono = (TTL * 2) / 3;
    expect(c.isLeader()).toBe(false);
    await c.stop();
  });

  test("a refresh returning another term: the lease had lapsed; stepped down, then a new period", async () => {
    const { clock, db, c, events, acquired, lost } = rig();
    await c.start();
    db.expires = clock.now().getTime();
    await clock.advance(TTL / 3);
    expect(types(events)).toEqual(["cluster.leader_acquired 1", "cluster.leader_lost 1 superseded", "cluster.leader_acquired 2"]);
    expect(lost).toEqual(["superseded"]);
    expect(acquired).toEqual([1, 2]);
    expect(c.isLeader()).toBe(true);
    expect(c.fence().term).toBe(2);
    await c.stop();
  });

  test("an empty refresh (another node holds it): lost, superseded", async () => {
    const { clock, db, c, events } = rig();
    await c.start();
    db.release(clock.now().getTime());
    db.acquire("nas-2", "other", clock.now().getTime());
    await clock.advance(TTL / 3);
    expect(c.isLeader()).toBe(false);
    expect(types(events)).toEqual(["cluster.leader_acquired 1", "cluster.leader_lost 1 superseded"]);
    expect(c.leader()).toMatchObject({ nodeId: "nas-2", term: 2 });
    await c.stop();
  });

  test("a transaction conflict, or the database away: not acquired, no leader from it", async () => {
    const clock = new FakeClock();
    const db = new FakeDb(clock);
    db.down = true;
    const { c, events } = rig({}, clock, db);
    await c.start();
    expect(c.isLeader()).toBe(false);
    const conflicting = rig({ db: { query: async () => Promise.reject(new RotaError("store_conflict", "audit: SurrealDB: Transaction conflict: can be retried")) } });
    await conflicting.c.start();
    expect(conflicting.c.isLeader()).toBe(false);
    expect(events).toEqual([]);
    await Promise.all([c.stop(), conflicting.c.stop()]);
  });

  test("step-down: not leading at once, the lease released, no acquire for one TTL, then back in the race", async () => {
    const { clock, db, c, events, lost } = rig();
    await c.start();
    expect(await c.stepDown()).toEqual({ node_id: "nas-1", term: 1, released: true, hold_until: new Date(clock.now().getTime() + TTL).toISOString() });
    expect(c.isLeader()).toBe(false);
    expect(lost).toEqual(["step_down"]);
    expect(db.holder).toBeUndefined();
    expect(db.term).toBe(1);
    expect(await c.stepDown()).toBeNull();
    const ticks = db.count(TICK);
    await clock.advance(TTL - 1);
    expect(db.count(TICK)).toBe(ticks);
    expect(db.count(OBSERVE)).toBe(2);
    expect(c.isLeader()).toBe(false);
    await clock.advance(TTL / 3);
    expect(db.count(TICK)).toBe(ticks + 1);
    expect(c.isLeader()).toBe(true);
    expect(types(events)).toEqual(["cluster.leader_acquired 1", "cluster.leader_lost 1 step_down", "cluster.leader_acquired 2"]);
    await c.stop();
  });

  test("a tick sent before a step-down that takes the lease after its release: handed back, the hold stands", async () => {
    const clock = new FakeClock();
    const fake = new FakeDb(clock);
    let gate: Promise<void> | null = null;
    let open = () => {};
    const db = { query: (sql: string, b?: Row) => (sql === TICK && gate ? gate.then(() => fake.query(sql, b)) : fake.query(sql, b)) };
    const { c, events } = rig({ db }, clock, fake);
    await c.start();
    gate = new Promise<void>((resolve) => (open = resolve));
    await clock.advance(TTL / 3);
    expect(await c.stepDown()).toMatchObject({ released: true });
    gate = null;
    open();
    await settle();
    expect(fake.term).toBe(2);
    expect(fake.holder).toBeUndefined();
    expect(c.isLeader()).toBe(false);
    await clock.advance(TTL);
    expect(c.isLeader()).toBe(true);
    expect(types(events)).toEqual(["cluster.leader_acquired 1", "cluster.leader_lost 1 step_down", "cluster.leader_acquired 3"]);
    await c.stop();
  });

  test("step-down with the database away: stops leading anyway, released false", async () => {
    const { clock, db, c } = rig();
    await c.start();
    const open = db.hang();
    const answer = c.stepDown();
    await clock.advance(1000);
    expect(await answer).toMatchObject({ node_id: "nas-1", term: 1, released: false });
    expect(c.isLeader()).toBe(false);
    open();
    await c.stop();
  });

  test("stop: leader_lost shutdown, the lease released and the heartbeat's instance cleared; within 1 s when the database hangs", async () => {
    const { clock, db, c, events, lost } = rig();
    await c.start();
    await c.stop();
    expect(lost).toEqual(["shutdown"]);
    expect(types(events)).toEqual(["cluster.leader_acquired 1", "cluster.leader_lost 1 shutdown"]);
    expect(db.holder).toBeUndefined();
    expect(db.nodes.get("nas-1")?.instance).toBeUndefined();
    const ticks = db.count(TICK);
    await clock.advance(TTL);
    expect(db.count(TICK)).toBe(ticks);

    const hung = rig();
    await hung.c.start();
    const open = hung.db.hang();
    let done = false;
    const stopping = hung.c.stop().then(() => (done = true));
    await hung.clock.advance(999);
    expect(done).toBe(false);
    await hung.clock.advance(1);
    await stopping;
    expect(hung.c.isLeader()).toBe(false);
    open();
  });

  test("claim: refused while another instance heartbeats under this node id; taken over from one that stopped", async () => {
    const clock = new FakeClock();
    const db = new FakeDb(clock);
    db.nodes.set("nas-1", { instance: "live", heartbeat: clock.now().getTime() - 3000, role: "leader", certs: "[]" });
    const { c } = rig({}, clock, db);
    const claiming = c.claim().then(
      () => null,
      (err: unknown) => err,
    );
    await settle();
    // The other daemon heartbeats again meanwhile.
    await clock.advance(TTL / 3 + 1000 - 1);
    db.nodes.get("nas-1")!.heartbeat = clock.now().getTime() - 3000;
    await clock.advance(1);
    const err = (await claiming) as RotaError;
    expect(err).toBeInstanceOf(RotaError);
    expect(err.code).toBe("node_in_use");
    expect(err.message).toBe("cluster: node id nas-1 is in use by a live daemon (heartbeat 3 s ago)");

    // A daemon killed a moment ago: its heartbeat stands still.
    db.nodes.set("nas-1", { instance: "killed", heartbeat: clock.now().getTime() - 2000, role: "leader", certs: "[]" });
    const taking = c.claim();
    await settle();
    await clock.advance(TTL / 3 + 1000);
    await taking;
    expect(db.nodes.get("nas-1")?.instance).toBe("inst-1");

    // Silent for 2 × TTL, or cleared at a clean stop: claimed at once.
    db.nodes.set("nas-1", { instance: "old", heartbeat: clock.now().getTime() - 2 * TTL, role: "follower", certs: "[]" });
    await c.claim();
    db.nodes.set("nas-1", { instance: undefined, heartbeat: clock.now().getTime(), role: "follower", certs: "[]" });
    await c.claim();
    expect(db.nodes.get("nas-1")?.instance).toBe("inst-1");
  });
});
