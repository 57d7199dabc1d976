/**
 * @module SurrealAuditStore: the audit store on a SurrealDB 3.x server, shared by the
 * daemons that write to it, behind the same `AuditStore` contract as SQLite. The daemon's
 * store is buffering: during an outage the audit trail waits in memory, in order, and is
 * stored on reconnect (or spooled to disk at shutdown); every other call fails fast with
 * `store_unavailable`. Loaded only through `open.ts`.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BoundIncluded, DateTime, RecordId, RecordIdRange } from "surrealdb";
import type { Fence } from "../cluster/types.ts";
import type { Clock } from "../clock.ts";
import type { SurrealAuditConfig } from "../config/schema.ts";
import type { CertSummary } from "../crypto/summary.ts";
import { RotaError, describeError } from "../errors.ts";
import { sleep } from "../sleep.ts";
import type { StepName, StepStatus, StoreEvent, Trigger } from "../events.ts";
import type { Logger } from "../log.ts";
import { summaryColumns, summaryOf } from "./issued-summary.ts";
import { planOf, planRecord, type PlanRecord } from "./renewal-plan.ts";
import { appendSpool, readSpool, removeSpool, renewalOfWrite, WriteBuffer, type AuditWrite, type ClusterEventRecord } from "./surreal-buffer.ts";
import { isUnavailable, SurrealClient, type Bindings } from "./surreal-client.ts";
import { SURREAL_MIGRATIONS } from "./surreal-migrations.ts";
import type {
  AlertDelivery,
  AlertLimit,
  AuditStore,
  CertClaims,
  CertState,
  DeliveryOutcome,
  InstallRecord,
  IssuedCert,
  PruneResult,
  Renewal,
  RenewalHead,
  RenewalPlan,
  RenewalQuery,
  RenewalStatus,
  StepEvent,
  StoreHealth,
} from "./types.ts";

/** `close()` spends at most this storing what is buffered, within the daemon's 5-s stop deadline. */
const CLOSE_FLUSH_MS = 2_000;
/** Between two tries of a buffered write the server timed out on while still connected. */
const FLUSH_RETRY_MS = 1_000;
export const SPOOL_FILE = "audit-spool.jsonl";
/** Cert claims written per query: 500 take the engine about 0.4 s, well within a call's 5 s. */
const CLAIM_CHUNK = 500;

export interface SurrealStoreOptions {
  /** Written on each renewal and cert claim; `interruptRunning` closes only this owner's rows. */
  owner: string;
  /**
   * The owner an older rota wrote for this daemon (its bare host name): its running rows are
   * closed too, those of the certs this owner claims (another daemon on the host has its own).
   */
  legacyOwner?: string;
  /** Cluster mode: this node's id, written on each renewal as its `node`; absent on a single node. */
  node?: string;
  /** The daemon's store: the audit trail is buffered through outages. */
  buffered: boolean;
  log: Logger;
  clock: Pick<Clock, "now">;
  /** Where `close()` spools what it could not store, and the next start replays it from. */
  stateDir: string;
  onState?: (e: StoreEvent) => void;
}

type Row = Record<string, unknown>;

export interface SurrealSchema {
  /** How many migrations have run; 0 for a database without rota's schema. */
  version: number;
  /** The oldest schema version a rota must read to use it. */
  minReader: number;
}

/** `rota_meta:schema`, read without writing (`rota doctor` reads it too). */
export async function readSchema(client: SurrealClient): Promise<SurrealSchema> {
  const [info] = (await client.query("INFO FOR DB")) as [{ tables: Record<string, unknown> }];
  if (!info.tables.rota_meta) return { version: 0, minReader: 0 };
  const [rows] = (await client.query("SELECT version, min_reader FROM $id", { id: rid("rota_meta", "schema") })) as [Row[]];
  const row = rows[0];
  return row ? { version: row.version as number, minReader: row.min_reader as number } : { version: 0, minReader: 0 };
}

/**
 * The `audit.username` refusal for a user who may read but not write (a `VIEWER`), or null.
 * Such a user passes sign-in and every read, and engine 3.0 answers its writes with no rows
 * and no error. Found by a write that must return the schema record it touches, in a
 * transaction that always throws, so nothing is ever committed. Needs the schema in place.
 */
export async function writeRefusal(client: SurrealClient): Promise<RotaError | null> {
  const outcome = await client
    .query(`BEGIN; LET $n = (UPDATE $meta SET min_reader = min_reader RETURN VALUE id); IF array::len($n) == 0 { THROW "read-only" } ELSE { THROW "writable" }; COMMIT;`, {
      meta: rid("rota_meta", "schema"),
    })
    .then(
      () => null,
      (err: unknown) => err,
    );
  if (outcome instanceof RotaError && outcome.message === "audit: SurrealDB: writable") return null;
  if (outcome instanceof RotaError && outcome.message === "audit: SurrealDB: read-only") return client.refused(new Error("the user may read but not write; it needs ROLES EDITOR"));
  throw outcome ?? new RotaError("store_failed", "audit: SurrealDB: the write check committed nothing and threw nothing");
}

const INTERRUPTED = "the daemon stopped during this renewal";

/** What a fenced write THROWs when the lease moved on; the message of `RotaError("fenced")` is built from the fence. */
const FENCED = "rota: fenced";

/**
 * What a cluster coordinator needs of the store's connection (`src/cluster/`): the same
 * client, signed in and reconnecting, so cluster mode opens no second connection.
 */
export interface ClusterLink {
  /**
   * As `SurrealClient.query`, but a transaction conflict is thrown at once
   * (`store_conflict`), never retried: for the lease, a conflict means "not acquired".
   */
  query(sql: string, bindings?: Bindings): Promise<unknown[]>;
  /** Stores a `cluster_event` row through the audit trail's buffer: kept in order through an outage. */
  recordEvent(e: ClusterEventRecord): Promise<void>;
  health(): StoreHealth;
}

/**
 * (started_at DESC, inserted_at DESC) as one string that sorts ascending: 10^13 − start in
 * ms, then 9·10^18 − insertion in ns, each a fixed 13 and 19 digits (from 1970 until the
 * 2200s). Engine 3.0 reads an index forwards only: the newest page is the index's first rows.
 */
const NEWEST = "<string>(10000000000000 - time::millis($at)) + <string>(9000000000000000000 - time::nano($now))";

const rid = (table: string, key: string | unknown[]) => new RecordId(table, key);
const date = (v: unknown): Date => (v instanceof DateTime ? v.toDate() : new Date(v as string));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));

export class SurrealAuditStore implements AuditStore, CertClaims {
  private readonly client: SurrealClient;
  private readonly buffer: WriteBuffer;
  private readonly seqs = new Map<string, number>();
  /** Audit writes are accepted one at a time, so each renewal's rows keep their order. */
  private chain: Promise<void> = Promise.resolve();
  private flushing: Promise<void> | null = null;
  /** Set from the first failure of an outage until everything buffered is stored. */
  private outage: { error: string } | null = null;
  private flushedNow = 0;
  private closing = false;

  private constructor(
    readonly config: SurrealAuditConfig,
    private readonly opts: SurrealStoreOptions,
  ) {
    this.buffer = new WriteBuffer(config.bufferMaxWrites);
    this.client = new SurrealClient(config, {
      connected: () => this.kick(),
      disconnected: (error) => this.lost(error || "connection closed"),
    });
  }

  /**
   * Connects, brings the schema up to date (or refuses one this rota cannot read), and
   * stores what an earlier run spooled. Throws `store_unreachable` or `store_config` (see
   * `SurrealClient.connect`).
   */
  static async open(config: SurrealAuditConfig, opts: SurrealStoreOptions): Promise<SurrealAuditStore> {
    const store = new SurrealAuditStore(config, opts);
    await store.client.connect();
    try {
      await store.migrate();
      await store.checkWritable();
      await store.replaySpool();
    } catch (err) {
      await store.client.close();
      throw err;
    }
    return store;
  }

  private get spoolPath(): string {
    return join(this.opts.stateDir, SPOOL_FILE);
  }

  // --- schema ---------------------------------------------------------------------------

  private schema(): Promise<SurrealSchema> {
    return readSchema(this.client);
  }

  /**
   * Applies each missing migration in its own transaction, which first checks that the
   * version is still the one read: of two daemons starting together one applies it, and
   * the other fails that check (or loses the write conflict) and reads the version again.
   */
  private async migrate(): Promise<void> {
    const ours = SURREAL_MIGRATIONS.length;
    // Tries of one version: losing a race to another daemon that moved the schema on is progress, not a failure.
    let attempts = 0;
    for (let seen = -1; ; attempts++) {
      const { version, minReader } = await this.schema();
      if (version !== seen) [seen, attempts] = [version, 0];
      if (version > ours) {
        if (minReader <= ours) return;
        throw new RotaError("store_config", `audit.database: schema version ${version} needs a rota that reads ≥ ${minReader}; this rota reads ${ours}; upgrade rota`, { noRetry: true });
      }
      if (version === ours) return;
      const m = SURREAL_MIGRATIONS[version]!;
      const guard =
        version === 0
          ? `IF (INFO FOR DB).tables.rota_meta != NONE { THROW "schema moved" };`
          : `IF (SELECT VALUE version FROM ONLY $meta) != ${version} { THROW "schema moved" };`;
      try {
        await this.client.query(`BEGIN; ${guard} ${m.sql} UPSERT $meta SET version = $next, min_reader = $minReader RETURN NONE; COMMIT;`, {
          meta: rid("rota_meta", "schema"),
          next: version + 1,
          minReader: Math.max(m.minReader, minReader),
        });
      } catch (err) {
        const raced = err instanceof RotaError && (err.code === "store_conflict" || /schema moved|already exists/.test(err.message));
        if (!raced || attempts >= 5) throw err;
        // The winner's transaction may not be committed yet: read again after it has had time to land.
        await sleep(50 * 2 ** attempts * (0.5 + Math.random()));
      }
    }
  }

  /** Refused at start rather than losing every write without a word (see `writeRefusal`). */
  private async checkWritable(): Promise<void> {
    const refusal = await writeRefusal(this.client);
    if (refusal) throw refusal;
  }

  private async replaySpool(): Promise<void> {
    const writes = readSpool(this.spoolPath);
    if (writes.length === 0) return;
    for (const w of writes) {
      if (w.kind === "step") this.seqs.set(w.renewalId, Math.max(this.seqs.get(w.renewalId) ?? 0, w.seq));
      await this.send(w);
    }
    removeSpool(this.spoolPath);
    this.opts.log.info(`audit: stored ${writes.length} audit write(s) spooled when the daemon last stopped during an outage`);
  }

  /** The connection for cluster mode's lease, heartbeats and events (see `ClusterLink`). */
  clusterLink(): ClusterLink {
    return {
      query: (sql, bindings) => this.client.query(sql, bindings, 0),
      recordEvent: (e) => this.write({ kind: "cluster_event", event: e }),
      health: () => this.health(),
    };
  }

  // --- the audit trail: buffered ----------------------------------------------------------

  async openRenewal(r: { id: string; certId: string; trigger: Trigger; installOnly: boolean; reason: string | null; startedAt: Date }): Promise<void> {
    this.seqs.set(r.id, 0);
    return this.write({ kind: "open", renewalId: r.id, certId: r.certId, trigger: r.trigger, installOnly: r.installOnly, reason: r.reason, startedAt: r.startedAt });
  }

  async addStep(renewalId: string, event: StepEvent): Promise<void> {
    const seq = (this.seqs.get(renewalId) ?? 0) + 1;
    this.seqs.set(renewalId, seq);
    return this.write({ kind: "step", renewalId, seq, event });
  }

  async closeRenewal(id: string, status: Exclude<RenewalStatus, "running">, finishedAt: Date, error: string | null): Promise<void> {
    this.seqs.delete(id);
    return this.write({ kind: "close", renewalId: id, status, finishedAt, error });
  }

  private write(w: AuditWrite): Promise<void> {
    if (!this.opts.buffered) return this.send(w);
    const accepted = this.chain.then(() => this.accept(w));
    this.chain = accepted.catch(() => {});
    return accepted;
  }

  /** Sends `w` now if nothing waits before it, else queues it; resolves once it is stored or queued. */
  private async accept(w: AuditWrite): Promise<void> {
    if (this.buffer.items.length === 0 && this.client.connected && !this.outage) {
      // During an outage `push` drops these, counted in its warning line.
      if (this.buffer.orphaned(w)) return;
      try {
        return await this.send(w);
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        this.lost(describeError(err));
      }
    }
    this.buffer.push(w);
    this.kick();
  }

  /** One write, as a statement that lands on the same record when sent again. */
  private async send(w: AuditWrite): Promise<void> {
    if (w.kind === "open") {
      // IGNORE: a resend after a timeout that did reach the server keeps the first row (and its inserted_at).
      await this.client.query(
        `LET $now = time::now();
         INSERT IGNORE INTO renewal { id: $id, cert_id: $cert, trigger: $trigger, install_only: $io, reason: $reason, status: "running",
           started_at: $at, finished_at: null, error: null, owner: $owner, node: $node, inserted_at: $now, newest: ${NEWEST} } RETURN NONE`,
        { id: rid("renewal", w.renewalId), cert: w.certId, trigger: w.trigger, io: w.installOnly, reason: w.reason, at: w.startedAt, owner: this.opts.owner, node: this.opts.node },
      );
    } else if (w.kind === "cluster_event") {
      const e = w.event;
      await this.client.query(
        `INSERT IGNORE INTO cluster_event { id: $id, at: $at, node_id: $node, type: $type, term: $term, cert_id: $cert, serial: $serial, detail: $detail,
           inserted_at: time::now() } RETURN NONE`,
        { id: rid("cluster_event", e.id), at: e.at, node: e.nodeId, type: e.type, term: e.term, cert: e.certId, serial: e.serial, detail: e.detail },
      );
    } else if (w.kind === "step") {
      const e = w.event;
      await this.client.query(
        "UPSERT $id CONTENT { renewal_id: $renewal, seq: $seq, step: $step, at: $at, status: $status, message: $msg, duration_ms: $ms } RETURN NONE",
        { id: rid("renewal_event", [w.renewalId, w.seq]), renewal: w.renewalId, seq: w.seq, step: e.step, at: e.at, status: e.status, msg: e.message, ms: Math.round(e.durationMs) },
      );
    } else {
      await this.client.query(`UPDATE $id SET status = $status, finished_at = $at, error = $error WHERE status = "running" RETURN NONE`, {
        id: rid("renewal", w.renewalId),
        status: w.status,
        at: w.finishedAt,
        error: w.error,
      });
    }
  }

  private lost(error: string): void {
    if (this.outage || this.closing) return;
    this.outage = { error };
    this.flushedNow = 0;
    this.opts.log.error(`audit: ${this.client.name} is not connected (${error}); buffering the audit trail, up to ${this.config.bufferMaxWrites} writes`);
    this.opts.onState?.({ type: "store.disconnected", at: this.opts.clock.now(), error });
  }

  /** Starts storing the buffer, unless that is under way or the server is away. */
  private kick(): void {
    if (this.flushing || !this.client.connected) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
    });
  }

  /** Stores the buffer in order, first to last; stops at a connection failure, for the next reconnect. */
  private async flush(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    while (this.buffer.items.length > 0 && this.client.connected && Date.now() < deadline) {
      const w = this.buffer.items[0]!;
      try {
        await this.send(w);
        this.flushedNow++;
      } catch (err) {
        if (isUnavailable(err)) {
          this.lost(describeError(err));
          if (this.closing) return;
          await new Promise((r) => setTimeout(r, FLUSH_RETRY_MS));
          continue;
        }
        // The server refused this write for good: waiting would hold every later one back.
        const of = renewalOfWrite(w);
        this.opts.log.error(`audit: a buffered ${w.kind === "cluster_event" ? "cluster event" : w.kind}${of === null ? "" : ` of renewal ${of}`} was refused and is dropped: ${describeError(err)}`);
        this.buffer.drop();
      }
      this.buffer.items.shift();
    }
    if (this.buffer.items.length === 0 && this.outage && this.client.connected) this.recovered();
  }

  private recovered(): void {
    const dropped = this.buffer.endOutage();
    const flushed = this.flushedNow;
    this.outage = null;
    if (dropped > 0) this.opts.log.warn(`audit: ${dropped} audit writes dropped while SurrealDB was unreachable (buffer_max_writes = ${this.config.bufferMaxWrites})`);
    this.opts.log.info(`audit: ${this.client.name} is connected again; stored ${flushed} buffered write(s)`);
    this.opts.onState?.({ type: "store.reconnected", at: this.opts.clock.now(), flushed, dropped });
  }

  health(): StoreHealth {
    return {
      backend: "surrealdb",
      connected: this.client.connected && !this.outage,
      bufferedWrites: this.buffer.items.length,
      droppedWrites: this.buffer.droppedTotal,
    };
  }

  /**
   * Stores what is buffered for up to 2 s, then appends the rest to the spool
   * (`<state_dir>/audit-spool.jsonl`, 0600, fsynced), which the next start replays.
   */
  async close(): Promise<void> {
    await this.chain;
    this.closing = true;
    if (this.flushing) await Promise.race([this.flushing, new Promise((r) => setTimeout(r, CLOSE_FLUSH_MS))]);
    else await this.flush(Date.now() + CLOSE_FLUSH_MS);
    const rest = this.buffer.items.splice(0);
    if (rest.length > 0) {
      appendSpool(this.spoolPath, rest);
      this.opts.log.warn(`audit: ${rest.length} audit write(s) not stored before stopping; kept in ${this.spoolPath} for the next start`);
    }
    await this.client.close();
  }

  // --- everything else: fail fast ----------------------------------------------------------

  private async q(sql: string, bindings?: Bindings): Promise<unknown[]> {
    return this.client.query(sql, bindings);
  }

  async interruptRunning(at: Date): Promise<number> {
    const res = await this.q(
      `LET $mine = SELECT VALUE record::id(id) FROM cert_claim WHERE owner = $owner;
       LET $done = UPDATE renewal SET status = "interrupted", finished_at = $at, error = $error
         WHERE status = "running" AND (owner = $owner OR (owner = $legacy AND cert_id IN $mine)) RETURN id;
       RETURN array::len($done);`,
      { at, error: INTERRUPTED, owner: this.opts.owner, legacy: this.opts.legacyOwner },
    );
    return res[2] as number;
  }

  async claimCerts(certIds: readonly string[]): Promise<Map<string, string>> {
    const owner = this.opts.owner;
    // One read of every claim, then writes only for what changed: a restart with the same
    // certs writes nothing (a single INSERT of 10,000 claims takes the engine over 5 s).
    const [rows] = (await this.q("SELECT VALUE [record::id(id), owner] FROM cert_claim")) as [[string, string][]];
    const claims = new Map(rows);
    const wanted = new Set(certIds);
    const taken = new Map<string, string>();
    const missing: string[] = [];
    for (const c of wanted) {
      const holder = claims.get(c);
      if (holder === undefined) missing.push(c);
      else if (holder !== owner) taken.set(c, holder);
    }
    for (let i = 0; i < missing.length; i += CLAIM_CHUNK) {
      const ids = missing.slice(i, i + CLAIM_CHUNK).map((c) => rid("cert_claim", c));
      // Each INSERT IGNORE of a record is atomic: of two daemons claiming an id at once one
      // writes it, and the other reads the winner here.
      const res = await this.q(`INSERT IGNORE INTO cert_claim $rows RETURN NONE; SELECT VALUE [record::id(id), owner] FROM $ids WHERE owner != $owner;`, {
        rows: ids.map((id) => ({ id, owner, claimed_at: this.opts.clock.now() })),
        ids,
        owner,
      });
      for (const [c, holder] of res[1] as [string, string][]) taken.set(c, holder);
    }
    const released = [...claims].filter(([c, holder]) => holder === owner && !wanted.has(c)).map(([c]) => rid("cert_claim", c));
    for (let i = 0; i < released.length; i += CLAIM_CHUNK) {
      await this.q("DELETE $ids WHERE owner = $owner RETURN NONE", { ids: released.slice(i, i + CLAIM_CHUNK), owner });
    }
    return taken;
  }

  async getRenewal(id: string): Promise<Renewal | null> {
    const [rows] = (await this.q("SELECT * FROM $id", { id: rid("renewal", id) })) as [Row[]];
    return rows.length > 0 ? (await this.withEvents(rows))[0]! : null;
  }

  async listRenewals(q: RenewalQuery): Promise<Renewal[]> {
    return this.withEvents(await this.renewalRows(q));
  }

  async listRenewalHeads(q: RenewalQuery): Promise<RenewalHead[]> {
    return (await this.renewalRows(q)).map(renewalOf);
  }

  private async renewalRows(q: RenewalQuery): Promise<Row[]> {
    const where: string[] = [];
    const b: Bindings = { limit: q.limit };
    const filter = (clause: string, name: string, value: unknown) => {
      where.push(clause);
      b[name] = value;
    };
    if (q.certId !== undefined) filter("cert_id = $cert", "cert", q.certId);
    if (q.statuses) filter("status IN $statuses", "statuses", [...q.statuses]);
    if (q.triggers) filter("trigger IN $triggers", "triggers", [...q.triggers]);
    if (q.since) filter("started_at >= $since", "since", q.since);
    if (q.until) filter("started_at < $until", "until", q.until);
    // Unfiltered (the audit's first page, and the pages after it), the newest are the first
    // entries of the `newest` index. With a filter the rows are sorted: engine 3.0.2 applies
    // a filter after the LIMIT of an index read in order, which would drop matching rows.
    const ordered = where.length === 0;
    if (q.before !== undefined) {
      // The list's own order as the key: the page after a renewal does not move when newer
      // rows arrive. Read first, and bound as a value: an index range the engine reads as such.
      const [anchor] = (await this.q("SELECT VALUE newest FROM $id", { id: rid("renewal", q.before) })) as [string[]];
      if (anchor.length === 0) return [];
      filter("newest > $after", "after", anchor[0]);
    }
    const order = ordered ? "ORDER BY newest" : "ORDER BY started_at DESC, inserted_at DESC";
    const [rows] = (await this.q(`SELECT * FROM renewal ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ${order} LIMIT $limit`, b)) as [Row[]];
    return rows;
  }

  async latestRenewals(certIds: readonly string[]): Promise<Map<string, RenewalHead>> {
    if (certIds.length === 0) return new Map();
    // Per cert, the first entry of the (cert_id, started_at) index: never a pass over the table.
    const [rows] = (await this.q(
      "RETURN $ids.map(|$c| (SELECT * FROM renewal WHERE cert_id = $c ORDER BY started_at DESC, inserted_at DESC LIMIT 1)[0]).filter(|$r| $r != NONE)",
      { ids: [...certIds] },
    )) as [Row[]];
    return new Map(rows.map((r) => [r.cert_id as string, renewalOf(r)]));
  }

  private async withEvents(rows: Row[]): Promise<Renewal[]> {
    if (rows.length === 0) return [];
    const heads = rows.map(renewalOf);
    // Each renewal's steps are one range of record ids, [id, 1]..[id, ∞]: a key range each, in seq order, never a scan.
    const ranges = heads.map((h) => new RecordIdRange("renewal_event", new BoundIncluded([h.id, 0]), new BoundIncluded([h.id, Number.MAX_SAFE_INTEGER])));
    const [perRenewal] = (await this.q("RETURN $ranges.map(|$r| SELECT * FROM $r)", { ranges })) as [Row[][]];
    const byRenewal = new Map<string, StepEvent[]>();
    for (const e of perRenewal.flat()) {
      const list = byRenewal.get(e.renewal_id as string) ?? [];
      list.push({ step: e.step as StepName, at: date(e.at), status: e.status as StepStatus, message: e.message as string, durationMs: e.duration_ms as number });
      byRenewal.set(e.renewal_id as string, list);
    }
    return heads.map((h) => ({ ...h, events: byRenewal.get(h.id) ?? [] }));
  }

  /**
   * Never buffered, fenced or not: a fenced write that cannot reach the database fails now
   * (replayed later, it would land under a lease long gone). The fence is a write to the
   * lock record, not a read of it: an acquire racing this transaction is a write conflict,
   * so one of them fails.
   */
  async saveIssued(c: IssuedCert, fence?: Fence): Promise<void> {
    const { keyType, names } = summaryColumns(c.leafPem);
    const chain = rid("issued_chain", createHash("sha256").update(c.chainPem).digest("hex"));
    const check = fence
      ? `LET $held = (UPDATE cluster_lock:singleton SET last_fenced_write = time::now()
           WHERE holder = $node AND instance = $instance AND term = $term AND expires > time::now() RETURN VALUE id);
         IF array::len($held) == 0 { THROW "${FENCED}" };`
      : "";
    await this.q(
      `BEGIN;
       ${check}
       UPSERT $chain SET pem = $pem RETURN NONE;
       UPSERT $id CONTENT { cert_id: $cert, serial: $serial, renewal_id: $renewal, leaf_pem: $leaf, chain: $chain,
         not_before: $nb, not_after: $na, issued_at: $at, key_type: $keyType, names: $names, term: $issuedTerm, node: $issuedNode } RETURN NONE;
       COMMIT;`,
      {
        node: fence?.nodeId,
        instance: fence?.instance,
        term: fence?.term,
        issuedTerm: fence?.term ?? c.term,
        issuedNode: fence?.nodeId ?? c.node,
        chain,
        pem: c.chainPem,
        id: rid("issued_cert", [c.certId, c.serial]),
        cert: c.certId,
        serial: c.serial,
        renewal: c.renewalId,
        leaf: c.leafPem,
        nb: c.notBefore,
        na: c.notAfter,
        at: c.issuedAt,
        keyType,
        names,
      },
    ).catch((err: unknown) => {
      if (fence && err instanceof RotaError && err.message === `audit: SurrealDB: ${FENCED}`) {
        throw new RotaError("fenced", `cluster: not stored: ${fence.nodeId} no longer holds the lease at term ${fence.term}`, { noRetry: true, cause: err });
      }
      throw err;
    });
  }

  async latestIssued(certId: string): Promise<IssuedCert | null> {
    const [rows] = (await this.q("SELECT *, chain.pem AS chain_pem FROM issued_cert WHERE cert_id = $cert ORDER BY stored_at DESC, issued_at DESC LIMIT 1", { cert: certId })) as [Row[]];
    return rows[0] ? issuedOf(rows[0]) : null;
  }

  async latestIssuedSummaries(certIds: readonly string[]): Promise<Map<string, CertSummary>> {
    if (certIds.length === 0) return new Map();
    const [rows] = (await this.q(
      `RETURN $ids.map(|$c| (SELECT cert_id, serial, not_before, not_after, issued_at, stored_at, key_type, names FROM issued_cert WHERE cert_id = $c ORDER BY stored_at DESC, issued_at DESC LIMIT 1)[0]).filter(|$r| $r != NONE)`,
      { ids: [...certIds] },
    )) as [Row[]];
    const out = new Map<string, CertSummary>();
    for (const r of rows) {
      const summary = summaryOfRow(r);
      if (summary) out.set(r.cert_id as string, summary);
    }
    return out;
  }

  /**
   * This node's install record of the target: in cluster mode every node has its own (each
   * installs on its own machine), keyed by its node id as well (migration 3).
   */
  private installRecord(certId: string, target: string): RecordId {
    return rid("target_install", this.opts.node === undefined ? [certId, target] : [certId, target, this.opts.node]);
  }

  async saveInstalled(r: InstallRecord): Promise<void> {
    await this.q("UPSERT $id CONTENT { cert_id: $cert, target: $target, serial: $serial, installed_at: $at, node: $node } RETURN NONE", {
      id: this.installRecord(r.certId, r.target),
      cert: r.certId,
      target: r.target,
      serial: r.serial,
      at: r.installedAt,
      node: this.opts.node,
    });
  }

  private async installed(certId: string, target: string, fields: string): Promise<Row | null> {
    const res = await this.q(`LET $serials = SELECT VALUE serial FROM $install; SELECT ${fields} FROM issued_cert WHERE cert_id = $cert AND serial IN $serials`, {
      install: this.installRecord(certId, target),
      cert: certId,
    });
    return ((res[1] as Row[])[0] as Row | undefined) ?? null;
  }

  async lastInstalled(certId: string, target: string): Promise<IssuedCert | null> {
    const row = await this.installed(certId, target, "*, chain.pem AS chain_pem");
    return row ? issuedOf(row) : null;
  }

  async lastInstalledSummary(certId: string, target: string): Promise<CertSummary | null> {
    const row = await this.installed(certId, target, "serial, not_before, not_after, key_type, names");
    return row ? summaryOfRow(row) : null;
  }

  async prune(before: Date, configured: readonly string[]): Promise<PruneResult> {
    // The same orderings as latestRenewals and latestIssued: what they return is never pruned,
    // nor a certificate a target is recorded to serve.
    const res = await this.q(
      `BEGIN;
       LET $installs = DELETE target_install WHERE cert_id NOTINSIDE $certs RETURN BEFORE;
       LET $keep = array::distinct(SELECT VALUE cert_id FROM renewal).map(|$c| (SELECT id, started_at, inserted_at FROM renewal WHERE cert_id = $c ORDER BY started_at DESC, inserted_at DESC LIMIT 1)[0].id);
       LET $old = SELECT VALUE id FROM renewal WHERE started_at < $at AND status != "running" AND id NOTINSIDE $keep;
       LET $oldIds = $old.map(|$r| record::id($r));
       LET $steps = DELETE renewal_event WHERE renewal_id INSIDE $oldIds RETURN BEFORE;
       DELETE renewal WHERE id INSIDE $old;
       LET $served = SELECT VALUE [cert_id, serial] FROM target_install;
       LET $newest = array::distinct(SELECT VALUE cert_id FROM issued_cert).map(|$c| (SELECT id, stored_at, issued_at FROM issued_cert WHERE cert_id = $c ORDER BY stored_at DESC, issued_at DESC LIMIT 1)[0].id);
       LET $issued = DELETE issued_cert WHERE issued_at < $at AND id NOTINSIDE $newest AND [cert_id, serial] NOTINSIDE $served RETURN BEFORE;
       LET $chains = array::distinct(SELECT VALUE chain FROM issued_cert);
       DELETE issued_chain WHERE id NOTINSIDE $chains;
       LET $alerts = DELETE alert_delivery WHERE at < $at RETURN BEFORE;
       DELETE cluster_event WHERE at < $at;
       RETURN { renewals: array::len($old), steps: array::len($steps), issued: array::len($issued), installs: array::len($installs), alerts: array::len($alerts) };
       COMMIT;`,
      { at: before, certs: [...configured] },
    );
    // The RETURN's counts; inside a transaction each statement (BEGIN and COMMIT too) has its entry.
    const r = res.find((x): x is PruneResult => typeof x === "object" && x !== null && "renewals" in x)!;
    return { renewals: r.renewals, steps: r.steps, issued: r.issued, installs: r.installs, alerts: r.alerts };
  }

  async getCertState(certId: string): Promise<CertState | null> {
    const [rows] = (await this.q("SELECT * FROM $id", { id: rid("cert_state", certId) })) as [Row[]];
    return rows[0] ? certStateOf(rows[0]) : null;
  }

  async certStates(certIds?: readonly string[]): Promise<Map<string, CertState>> {
    const [rows] = (
      certIds === undefined ? await this.q("SELECT * FROM cert_state") : await this.q("SELECT * FROM $ids", { ids: certIds.map((id) => rid("cert_state", id)) })
    ) as [Row[]];
    return new Map(rows.map((r) => [r.cert_id as string, certStateOf(r)]));
  }

  async putCertState(s: CertState): Promise<void> {
    await this.q("UPSERT $id CONTENT { cert_id: $cert, consecutive_failures: $n, retry_at: $retry, last_error: $err, authz_failures: $authz, halted_at: $halted, inputs: $inputs } RETURN NONE", {
      id: rid("cert_state", s.certId),
      cert: s.certId,
      n: s.consecutiveFailures,
      retry: s.retryAt,
      err: s.lastError,
      authz: s.authzFailures,
      halted: s.haltedAt,
      // Undefined is NONE: the field is `option<string>` (migration 4).
      inputs: s.inputs,
    });
  }

  async renewalPlans(certIds: readonly string[]): Promise<Map<string, RenewalPlan>> {
    if (certIds.length === 0) return new Map();
    const [rows] = (await this.q("SELECT * FROM $ids", { ids: certIds.map((id) => rid("renewal_plan", id)) })) as [Row[]];
    return new Map(rows.map((r) => [r.cert_id as string, planOf(r as unknown as PlanRecord)]));
  }

  async putRenewalPlan(plan: RenewalPlan): Promise<void> {
    const content = Object.fromEntries(Object.entries(planRecord(plan)).map(([k, v]) => [k.slice(1), v]));
    await this.q("UPSERT $id CONTENT $content RETURN NONE", { id: rid("renewal_plan", plan.certId), content });
  }

  async alertLimit(sink: string, key: string): Promise<AlertLimit | null> {
    const [rows] = (await this.q("SELECT * FROM $id", { id: rid("alert_limit", [sink, key]) })) as [Row[]];
    const r = rows[0];
    return r
      ? { sink: r.sink as string, key: r.key as string, lastSentAt: date(r.last_sent_at), held: r.held as number, heldSince: dateOrNull(r.held_since), lastError: str(r.last_error) }
      : null;
  }

  async putAlertLimit(l: AlertLimit): Promise<void> {
    await this.q("UPSERT $id CONTENT { sink: $sink, key: $key, last_sent_at: $sent, held: $held, held_since: $since, last_error: $err } RETURN NONE", {
      id: rid("alert_limit", [l.sink, l.key]),
      sink: l.sink,
      key: l.key,
      sent: l.lastSentAt,
      held: l.held,
      since: l.heldSince,
      err: l.lastError,
    });
  }

  async clearAlertLimit(sink: string, key: string): Promise<void> {
    await this.q("DELETE $id", { id: rid("alert_limit", [sink, key]) });
  }

  async recordDelivery(d: AlertDelivery): Promise<void> {
    await this.q(
      `CREATE alert_delivery CONTENT { alert_id: $id, sink: $sink, event: $event, cert_id: $cert, at: $at, outcome: $outcome, error: $err, attempts: $attempts,
         inserted_at: time::now() } RETURN NONE`,
      { id: d.alertId, sink: d.sink, event: d.event, cert: d.certId, at: d.at, outcome: d.outcome, err: d.error, attempts: d.attempts },
    );
  }

  async listDeliveries(limit: number): Promise<AlertDelivery[]> {
    const [rows] = (await this.q("SELECT * FROM alert_delivery ORDER BY at DESC, inserted_at DESC LIMIT $limit", { limit })) as [Row[]];
    return rows.map((r) => ({
      alertId: r.alert_id as string,
      sink: r.sink as string,
      event: r.event as string,
      certId: str(r.cert_id),
      at: date(r.at),
      outcome: r.outcome as DeliveryOutcome,
      error: str(r.error),
      attempts: r.attempts as number,
    }));
  }
}

function renewalOf(r: Row): RenewalHead {
  return {
    id: (r.id as RecordId).id as string,
    certId: r.cert_id as string,
    trigger: r.trigger as Trigger,
    installOnly: r.install_only as boolean,
    reason: str(r.reason),
    status: r.status as RenewalStatus,
    startedAt: date(r.started_at),
    finishedAt: dateOrNull(r.finished_at),
    error: str(r.error),
    // Cluster mode's node id, else the daemon that wrote it: rows of a shared database say whose they are.
    node: str(r.node) ?? str(r.owner),
  };
}

function issuedOf(r: Row): IssuedCert {
  return {
    certId: r.cert_id as string,
    renewalId: r.renewal_id as string,
    leafPem: r.leaf_pem as string,
    chainPem: r.chain_pem as string,
    serial: r.serial as string,
    notBefore: date(r.not_before),
    notAfter: date(r.not_after),
    issuedAt: date(r.issued_at),
    // Present only on a row a cluster leader stored: a single node's row reads as it was saved.
    ...(typeof r.term === "number" ? { term: r.term } : {}),
    ...(typeof r.node === "string" ? { node: r.node } : {}),
  };
}

function summaryOfRow(r: Row): CertSummary | null {
  return summaryOf({ serial: r.serial as string, not_before: date(r.not_before).getTime(), not_after: date(r.not_after).getTime(), key_type: str(r.key_type), names: str(r.names) });
}

function certStateOf(r: Row): CertState {
  return {
    certId: r.cert_id as string,
    consecutiveFailures: r.consecutive_failures as number,
    retryAt: dateOrNull(r.retry_at),
    lastError: str(r.last_error),
    authzFailures: r.authz_failures as number,
    haltedAt: dateOrNull(r.halted_at),
    ...(typeof r.inputs === "string" ? { inputs: r.inputs } : {}),
  };
}
