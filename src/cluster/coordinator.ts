/**
 * @module SurrealClusterCoordinator: this node's side of the cluster lease (issue 17). Every
 * tick (⅓ TTL) it acquires or refreshes the lease and heartbeats; it leads only until ⅔ TTL
 * after its last successful acquire or refresh was SENT (monotonic clock), so it stops
 * leading ⅓ TTL before the database lets anyone else in, even if its loop hangs. A node
 * never leads twice under one term. It is the scheduler's `Leadership`.
 */
import { randomUUID } from "node:crypto";
import type { Cancel, Clock, Monotonic } from "../clock.ts";
import { RotaError, describeError } from "../errors.ts";
import type { RotaEvent } from "../events.ts";
import type { Logger } from "../log.ts";
import type { Leadership } from "../scheduler/leadership.ts";
import { isUnavailable } from "../store/surreal-client.ts";
import type { ClusterLink } from "../store/surreal.ts";
import { FORGET_SILENT_NODES, HEARTBEAT, LEAVE, NODE_CLAIM, nodeRecord, OBSERVE, RECREATE_LOCK, RELEASE, TICK, ttl } from "./lease-sql.ts";
import type { ClusterConfig, Fence, LeaderInfo, LeaderLostReason, NodeCertsSource, StepDownBody } from "./types.ts";

/** Stopping releases the lease within this (inside the daemon's 5-s stop deadline); so does a step-down. */
export const RELEASE_BUDGET_MS = 1_000;

export interface CoordinatorOptions {
  config: Pick<ClusterConfig, "nodeId" | "lockTtlSeconds">;
  /** The store's connection (`SurrealAuditStore.clusterLink()`); a transaction conflict must reach us unretried. */
  db: Pick<ClusterLink, "query">;
  clock: Clock;
  /** Measures the lease's deadline: a wall clock set back or forth must not stretch it. */
  monotonic: Monotonic;
  /** The event bus: `cluster.leader_acquired` and `cluster.leader_lost`. */
  emit(e: RotaEvent): void;
  log: Logger;
  /** This rota's version, in the heartbeat. */
  version: string;
  /** What this node reports of its certs at each heartbeat. */
  certs: NodeCertsSource;
  /** This node began leading at `term` (the daemon kicks the scheduler). */
  onAcquired?(term: number): void;
  /** This node stopped leading (the daemon aborts the orders in flight). */
  onLost?(reason: LeaderLostReason): void;
  /** Random per daemon start unless given (tests). */
  instance?: string;
}

type Row = Record<string, unknown>;

/** What the last read of the lease record showed. */
interface LockView {
  /** The live lease, or null when none was live by the database's clock. */
  leader: LeaderInfo | null;
  term: number;
  /** The database's clock minus ours, at the read: how leader expiry is judged between reads. */
  offsetMs: number;
}

/** The live lease in a `cluster_lock` row read at `dbNow`, or null. */
export function liveLeader(row: Row | undefined, dbNow: Date): LeaderInfo | null {
  if (!row || typeof row.holder !== "string") return null;
  const expiresAt = toDate(row.expires);
  if (expiresAt.getTime() <= dbNow.getTime()) return null;
  return { nodeId: row.holder, term: row.term as number, since: toDate(row.acquired_at ?? row.expires), expiresAt };
}

export function toDate(v: unknown): Date {
  if (v instanceof Date) return v;
  if (v && typeof v === "object" && "toDate" in v) return (v as { toDate(): Date }).toDate();
  return new Date(v as string);
}

const REASONS: Record<LeaderLostReason, string> = {
  step_down: "stepped down",
  refresh_failed: "the lease was not refreshed in time",
  superseded: "the lease moved on",
  shutdown: "the daemon is stopping",
};

export class SurrealClusterCoordinator implements Leadership {
  readonly nodeId: string;
  readonly instance: string;
  readonly ttlMs: number;
  private leading = false;
  /** The term this node leads at, or last led at; 0 before it ever led. */
  private term = 0;
  /** Monotonic: leading ends here unless a refresh sent before it succeeds. */
  private deadline = 0;
  /** The last term this node stopped leading at: it never leads under it again. */
  private lostTerm = 0;
  /** Monotonic: no acquire before this (after a step-down). */
  private holdUntil = Number.NEGATIVE_INFINITY;
  private view: LockView | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  private cancelTicks: Cancel = () => {};
  private cancelDeadline: Cancel = () => {};
  /** Whether the last tick reached the database: an outage is logged once. */
  private reached = true;
  /** The highest term the lease record has shown: a record made again starts from it. */
  private highestTerm = 0;
  /** Whether the last read found the lease record gone: said once, not at every tick. */
  private lockMissing = false;

  constructor(private readonly opts: CoordinatorOptions) {
    this.nodeId = opts.config.nodeId;
    this.instance = opts.instance ?? randomUUID();
    this.ttlMs = opts.config.lockTtlSeconds * 1000;
  }

  // --- Leadership ---------------------------------------------------------------------------

  /** Checks the deadline itself: a refresh loop that hangs cannot keep a stale leader. */
  isLeader(): boolean {
    return this.leading && this.opts.monotonic() < this.deadline;
  }

  /**
   * Always a fence in cluster mode, never null: after leadership is lost it still names the
   * last term led (0 before any), so a write that comes too late is refused by the database.
   */
  fence(): Fence {
    return { nodeId: this.nodeId, instance: this.instance, term: this.term };
  }

  leader(): LeaderInfo | null {
    const v = this.view;
    if (!v?.leader) return null;
    if (v.leader.expiresAt.getTime() <= this.opts.clock.now().getTime() + v.offsetMs) return null;
    // The lease record names this node while it still counts down to its own deadline: not a leader any more.
    if (v.leader.nodeId === this.nodeId && !this.isLeader()) return null;
    return v.leader;
  }

  /** The term of the live lease as last seen (this node's own while it leads); null before the first read. */
  currentTerm(): number | null {
    if (this.isLeader()) return this.term;
    return this.view?.term ?? null;
  }

  // --- lifecycle ------------------------------------------------------------------------------

  /**
   * Refuses a node id another live daemon uses: `RotaError("node_in_use")`, for the CLI's exit 1.
   * A fresh heartbeat from another instance is looked at again one heartbeat later: a daemon
   * killed a moment ago (its heartbeat stands still) is not in the way of its own restart.
   * Then writes this instance's first heartbeat. Call before touching the renewals this node owns.
   */
  async claim(): Promise<void> {
    const id = nodeRecord(this.nodeId);
    const read = async () => ((await this.opts.db.query(NODE_CLAIM, { id }))[0] as Row | undefined) ?? null;
    const fresh = (r: Row | null): r is Row => r !== null && typeof r.instance === "string" && r.instance !== this.instance && (r.age_ms as number) < 2 * this.ttlMs;
    const first = await read();
    if (fresh(first)) {
      await new Promise<void>((resolve) => this.opts.clock.setTimeout(resolve, this.ttlMs / 3 + 1000));
      const again = await read();
      if (fresh(again) && toDate(again.heartbeat).getTime() !== toDate(first.heartbeat).getTime()) {
        const ago = Math.max(0, Math.round((again.age_ms as number) / 1000));
        throw new RotaError("node_in_use", `cluster: node id ${this.nodeId} is in use by a live daemon (heartbeat ${ago} s ago)`, { noRetry: true });
      }
      this.opts.log.warn(`cluster: node id ${this.nodeId} was last used by a daemon that stopped heartbeating; taking it over`);
    }
    await this.heartbeat();
  }

  /** The first acquire attempt (awaited: the scheduler starts knowing whether it leads), then a tick every ⅓ TTL. */
  async start(): Promise<void> {
    await this.tick();
    if (this.stopped) return;
    this.cancelTicks = this.opts.clock.setInterval(() => void this.tick(), this.ttlMs / 3);
  }

  /**
   * Stops leading at once (`shutdown`), then within 1 s releases the lease and marks this
   * instance's heartbeat as gone, so a restart is not taken for a second live daemon.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelTicks();
    this.lose("shutdown");
    const budget = this.opts.clock.now().getTime() + RELEASE_BUDGET_MS;
    // A tick in flight could land its refresh after the release: let it finish first, within the budget.
    if (this.ticking) await within(this.ticking, RELEASE_BUDGET_MS / 2, this.opts.clock);
    const left = Math.max(0, budget - this.opts.clock.now().getTime());
    try {
      await within(this.opts.db.query(LEAVE, { node: this.nodeId, instance: this.instance, id: nodeRecord(this.nodeId) }), left, this.opts.clock, "no answer");
    } catch (err) {
      this.opts.log.warn(`cluster: could not release the lease while stopping (${describeError(err)}); it lapses within ${this.opts.config.lockTtlSeconds} s`);
    }
  }

  /**
   * `rota cluster step-down`: stops leading at once, releases the lease, and holds off one
   * TTL before trying to acquire again. Null when this node does not lead. `released`
   * false: the database did not take the release (the node stopped leading anyway).
   */
  async stepDown(): Promise<StepDownBody | null> {
    if (!this.isLeader()) return null;
    const term = this.term;
    this.lose("step_down");
    this.holdUntil = this.opts.monotonic() + this.ttlMs;
    const holdUntil = new Date(this.opts.clock.now().getTime() + this.ttlMs);
    let released = false;
    try {
      await within(this.opts.db.query(RELEASE, { node: this.nodeId, instance: this.instance }), RELEASE_BUDGET_MS, this.opts.clock, "no answer");
      released = true;
      if (this.view) this.view = { ...this.view, leader: null };
    } catch (err) {
      this.opts.log.warn(`cluster: stepped down from term ${term}, but the release did not reach the database (${describeError(err)}); the lease lapses within ${this.opts.config.lockTtlSeconds} s`);
    }
    return { node_id: this.nodeId, term, released, hold_until: holdUntil.toISOString() };
  }

  // --- the tick ---------------------------------------------------------------------------------

  /** One tick; a tick still waiting on the database is not doubled (its deadline still applies). */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.ticking ??= this.runTick().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    const observing = this.opts.monotonic() < this.holdUntil;
    const sent = this.opts.monotonic();
    let res: unknown[];
    try {
      res = await this.opts.db.query(observing ? OBSERVE : TICK, { node: this.nodeId, instance: this.instance, ttl: ttl(this.opts.config.lockTtlSeconds) });
    } catch (err) {
      this.unreached(err);
      return;
    }
    if (!this.reached) this.opts.log.info("cluster: the database is reachable again");
    this.reached = true;
    const [mine, lock, dbNow] = observing ? [[], res[0], res[1]] : res;
    this.see(lock as Row | undefined, toDate(dbNow));
    if (this.stopped) return;
    const row = (mine as Row[])[0];
    if (row) this.held(row.term as number, sent);
    // The database says another holds the lease while this node thinks it leads: its lease lapsed.
    else if (this.leading) this.lose("superseded");
    if (lock) this.lockMissing = false;
    else await this.recreateLock();
    await this.heartbeat();
  }

  private see(lock: Row | undefined, dbNow: Date): void {
    const term = (lock?.term as number | undefined) ?? 0;
    this.highestTerm = Math.max(this.highestTerm, term);
    this.view = { leader: liveLeader(lock, dbNow), term, offsetMs: dbNow.getTime() - this.opts.clock.now().getTime() };
  }

  /**
   * The lease record is gone (a restore without it, a stuck lock "cleared" by deleting it):
   * no acquire can match, so no node would ever lead again. Every node that sees it tries to
   * make it again, free; one CREATE wins (`RECREATE_LOCK`), and the next ticks acquire it as usual.
   */
  private async recreateLock(): Promise<void> {
    if (!this.lockMissing) this.opts.log.warn("cluster: the lease record cluster_lock:singleton is missing (restored without it, or deleted by hand): no node can lead without it; making it again");
    this.lockMissing = true;
    const term = Math.max(this.highestTerm, this.term);
    try {
      const [made] = (await this.opts.db.query(RECREATE_LOCK, { term })) as [Row[]];
      this.opts.log.warn(`cluster: ${this.nodeId} made the lease record cluster_lock:singleton again, free, at term ${(made[0]?.term as number | undefined) ?? term}`);
    } catch (err) {
      // Another node made it first (its CREATE won, ours conflicted), or the database is away: the next tick reads it again.
      this.opts.log.debug(`cluster: lease record not made here: ${describeError(err)}`);
    }
  }

  /** The acquire or refresh sent at `sent` returned the lease at `term`. */
  private held(term: number, sent: number): void {
    const deadline = sent + (this.ttlMs * 2) / 3;
    // Its answer came after the deadline it would set: nothing to lead on (the lease's own deadline will lapse it).
    if (this.opts.monotonic() >= deadline) {
      this.lose("refresh_failed");
      return;
    }
    if (this.leading && term !== this.term) this.lose("superseded");
    if (!this.leading) {
      // Still ours in the database, but this node stopped leading under that term, or a tick
      // sent before a step-down took the lease back during its hold: hand it back, so the next
      // period (ours or another's) starts at term + 1.
      if (term <= this.lostTerm || this.opts.monotonic() < this.holdUntil) {
        void this.opts.db.query(RELEASE, { node: this.nodeId, instance: this.instance }).catch(() => {});
        return;
      }
      this.leading = true;
      this.term = term;
      this.arm(deadline);
      this.opts.log.info(`cluster: ${this.nodeId} leads at term ${term}`);
      this.opts.emit({ type: "cluster.leader_acquired", nodeId: this.nodeId, term, at: this.opts.clock.now() });
      this.opts.onAcquired?.(term);
      return;
    }
    this.arm(deadline);
  }

  private arm(deadline: number): void {
    this.deadline = deadline;
    this.cancelDeadline();
    const check = () => {
      if (!this.leading) return;
      const left = this.deadline - this.opts.monotonic();
      if (left <= 0) this.lose("refresh_failed");
      // A timer can fire before a fractional deadline (Bun rounds the delay down): wait out the rest.
      else this.cancelDeadline = this.opts.clock.setTimeout(check, Math.ceil(left));
    };
    this.cancelDeadline = this.opts.clock.setTimeout(check, Math.ceil(Math.max(0, deadline - this.opts.monotonic())));
  }

  private lose(reason: LeaderLostReason): void {
    if (!this.leading) return;
    this.leading = false;
    this.lostTerm = this.term;
    this.cancelDeadline();
    const line = `cluster: ${this.nodeId} stopped leading at term ${this.term}: ${REASONS[reason]}`;
    if (reason === "step_down" || reason === "shutdown") this.opts.log.info(line);
    else this.opts.log.warn(line);
    this.opts.emit({ type: "cluster.leader_lost", nodeId: this.nodeId, term: this.term, reason, at: this.opts.clock.now() });
    this.opts.onLost?.(reason);
  }

  private unreached(err: unknown): void {
    // A write conflict with another node's acquire (or a fenced write): not acquired, nothing wrong.
    if (err instanceof RotaError && err.code === "store_conflict") {
      this.opts.log.debug(`cluster: lease not acquired: ${describeError(err)}`);
      return;
    }
    if (this.reached) {
      const why = isUnavailable(err) ? "the database is not reachable" : "the lease query failed";
      this.opts.log.warn(`cluster: ${why} (${describeError(err)}); ${this.leading ? `leading until ${(this.ttlMs * 2) / 3000} s after the last refresh` : "following"}`);
    }
    this.reached = false;
  }

  /** This node's row in `cluster_node`; the leader also forgets nodes silent for a day. Failures wait for the next tick. */
  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const leading = this.isLeader();
    try {
      await this.opts.db.query(`${HEARTBEAT}${leading ? `\n${FORGET_SILENT_NODES}` : ""}`, {
        id: nodeRecord(this.nodeId),
        node: this.nodeId,
        role: leading ? "leader" : "follower",
        version: this.opts.version,
        instance: this.instance,
        certs: JSON.stringify(this.opts.certs.certs()),
      });
    } catch (err) {
      this.opts.log.debug(`cluster: heartbeat not stored: ${describeError(err)}`);
    }
  }
}

/** `p`, or a rejection after `ms` on `clock` (the query itself is bounded by the client's own 5 s). */
function within<T>(p: Promise<T>, ms: number, clock: Clock, timeoutMessage?: string): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    const cancel = clock.setTimeout(() => (timeoutMessage ? reject(new Error(timeoutMessage)) : resolve(undefined)), ms);
    p.then(
      (v) => {
        cancel();
        resolve(v);
      },
      (err: unknown) => {
        cancel();
        if (timeoutMessage) reject(err);
        else resolve(undefined);
      },
    );
  });
}

