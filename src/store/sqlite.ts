/** @module SqliteAuditStore: the embedded default audit store, one bun:sqlite file in WAL mode. */
import { Database, constants } from "bun:sqlite";
import { closeSync, openSync, readdirSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { systemClock, type Clock } from "../clock.ts";
import { describeError, RotaError } from "../errors.ts";
import { ensureDir } from "../fsutil.ts";
import type { StepName, StepStatus, Trigger } from "../events.ts";
import type { CertSummary } from "../crypto/summary.ts";
import { summaryColumns, summaryOf, type SummaryRecord } from "./issued-summary.ts";
import { applyMigration, MIGRATIONS } from "./migrations.ts";
import { planOf, planRecord, PUT_PLAN_SQL, type PlanRecord } from "./renewal-plan.ts";
import type { AlertDelivery, AlertLimit, AuditStore, CertState, ChangeStamped, DeliveryOutcome, InstallRecord, IssuedCert, PruneResult, Renewal, RenewalHead, RenewalPlan, RenewalQuery, RenewalStatus, StepEvent, StoreHealth } from "./types.ts";

interface RenewalRecord {
  id: string;
  cert_id: string;
  trigger: string;
  status: string;
  started_at: number;
  finished_at: number | null;
  error: string | null;
  install_only: number;
  reason: string | null;
}

interface EventRecord {
  renewal_id: string;
  step: string;
  at: number;
  status: string;
  message: string;
  duration_ms: number;
}

interface IssuedRecord {
  serial: string;
  cert_id: string;
  renewal_id: string;
  leaf_pem: string;
  chain_pem: string;
  not_before: number;
  not_after: number;
  issued_at: number;
}

/** An issued row with its chain, stored once per distinct chain. */
const ISSUED = "SELECT i.*, c.pem AS chain_pem FROM issued_cert i JOIN issued_chain c ON c.id = i.chain_id";
const SUMMARY = "SELECT i.serial, i.not_before, i.not_after, i.key_type, i.names FROM issued_cert i";
/**
 * The newest issued certificate's summary of each cert in the JSON array `$ids` (the one
 * stored last, `seq`), read at every tick: per cert, the first entry of `issued_cert_newest`,
 * nothing sorted. In bulk,
 * since a statement per cert costs ten times its lookup.
 */
export const LATEST_SUMMARIES_SQL = `SELECT j.value AS cert_id, i.serial, i.not_before, i.not_after, i.key_type, i.names FROM json_each($ids) j
  JOIN issued_cert i ON i.rowid = (SELECT i2.rowid FROM issued_cert i2 WHERE i2.cert_id = j.value ORDER BY i2.seq DESC LIMIT 1)`;

/**
 * Each cert's newest renewal (of the certs in the JSON array `$ids`): one indexed lookup
 * per cert in `renewal_cert`, however long its history. Exported for the query-plan test.
 */
export const LATEST_RENEWALS_SQL = `SELECT r.* FROM json_each($ids) j
  JOIN renewal r ON r.rowid = (SELECT r2.rowid FROM renewal r2 WHERE r2.cert_id = j.value ORDER BY r2.started_at DESC, r2.rowid DESC LIMIT 1)`;

/**
 * Closes the renewals left running by a daemon that stopped: through the partial index
 * `renewal_running`, which the planner takes only when the statement says `status = 'running'`
 * as the index does. Exported for the query-plan test.
 */
export const INTERRUPT_RUNNING_SQL = "UPDATE renewal SET status = 'interrupted', finished_at = $at, error = 'the daemon stopped during this renewal' WHERE status = 'running'";

const CHANGE_STAMP_SQL = "SELECT total_changes() AS mine, (SELECT data_version FROM pragma_data_version) AS theirs";

/** Stores opened in this process: each one's serial starts its change stamps. */
let opened = 0;

/** Backups made before a migration that are kept beside the database; older ones are removed. */
const KEEP_BACKUPS = 3;

/**
 * Brings a database to the latest schema, one migration per transaction. A database that
 * holds data (version 1 or later) is first copied aside: a failed or unwanted upgrade can
 * go back to the copy, and without one nothing is migrated.
 */
function migrate(db: Database, path: string, now: Date): void {
  const migrations = MIGRATIONS;
  const current = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (current > migrations.length) {
    throw new RotaError("schema_newer", `sqlite: database schema version ${current} is newer than this rota (${migrations.length}); upgrade rota`, { noRetry: true });
  }
  if (current >= 1 && current < migrations.length && path !== ":memory:") backUp(db, path, current, migrations.length, now);
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      applyMigration(db, migrations[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    })();
  }
}

/** `rota.db` → `rota.db.pre-v6-20301231T235959Z.bak`: a consistent copy at `from`, readable by its owner only. */
function backUp(db: Database, path: string, from: number, to: number, now: Date): void {
  const dest = `${path}.pre-v${to}-${now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}.bak`;
  let created = false;
  try {
    // Created empty first, so the copy is never readable by others, not even for a moment;
    // VACUUM INTO accepts an empty file and refuses one with content.
    closeSync(openSync(dest, "wx", 0o600));
    created = true;
    db.query("VACUUM INTO ?").run(dest);
  } catch (err) {
    if (created) rmSync(dest, { force: true });
    throw new RotaError("backup_failed", `sqlite: cannot back up ${path} before migrating v${from}→v${to}: ${describeError(err)}; nothing changed`, { cause: err, noRetry: true });
  }
  const stamp = (name: string) => /-(\d{8}T\d{6}Z)\.bak$/.exec(name)?.[1] ?? "";
  const prefix = `${basename(path)}.pre-v`;
  const backups = readdirSync(dirname(path))
    .filter((name) => name.startsWith(prefix) && stamp(name) !== "")
    .sort((a, b) => stamp(b).localeCompare(stamp(a)));
  for (const old of backups.slice(KEEP_BACKUPS)) rmSync(join(dirname(path), old), { force: true });
}

/** How a SqliteAuditStore commits. */
export interface SqliteOptions {
  /**
   * The audit trail's rows (`openRenewal`, `addStep`, `closeRenewal`) written within one
   * turn of the event loop share one transaction, committed at the next turn: they resolve
   * once accepted, as on the daemon's buffering store (types.ts). Every other write commits
   * them first, then itself, before it resolves.
   */
  batchTrail?: boolean;
}

export class SqliteAuditStore implements AuditStore, ChangeStamped {
  private readonly db: Database;
  private readonly serial = ++opened;
  private readonly batchTrail: boolean;
  /** Set while this turn's trail rows share an open transaction. */
  private batchOpen = false;
  /** A batch whose commit failed: thrown by the next trail write, its code kept (the recovering store moves a corrupt file aside on it). */
  private lost: unknown;
  /**
   * The last step number this store gave each renewal still running, so that a step's row is
   * not numbered by a MAX() over its renewal's rows, which doubled the cost of the trail on
   * the daemon's thread (issue 11). Only ever ahead of the rows: a rolled-back batch leaves a
   * gap in the numbers, never a repeat. The first step of a renewal reads the stored maximum.
   */
  private readonly lastSeq = new Map<string, number>();

  /** `clock` names a backup made before a migration. */
  constructor(path: string, clock: Pick<Clock, "now"> = systemClock, opts: SqliteOptions = {}) {
    this.batchTrail = opts.batchTrail === true;
    if (path !== ":memory:") ensureDir(dirname(path), 0o700);
    this.db = new Database(path, { create: true, strict: true });
    try {
      this.db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;");
      migrate(this.db, path, clock.now());
    } catch (err) {
      // Closed here, not left to the garbage collector: a late close would delete whatever
      // `<path>-wal` is there by then, the next database's included.
      this.abandonSync();
      throw err;
    }
  }

  /**
   * Closes without SQLite deleting the -wal and -shm files, as a normal close does: a
   * damaged database is moved aside with its journal, so what it held is all still there.
   */
  async abandon(): Promise<void> {
    this.abandonSync();
  }

  private abandonSync(): void {
    // A batch open now goes with the file; its commit at the next turn must find nothing to do.
    this.batchOpen = false;
    try {
      this.db.fileControl(constants.SQLITE_FCNTL_PERSIST_WAL, 1);
    } finally {
      this.db.close();
    }
  }

  async openRenewal(r: { id: string; certId: string; trigger: Trigger; installOnly: boolean; reason: string | null; startedAt: Date }): Promise<void> {
    this.trail(() =>
      this.db
        .query("INSERT INTO renewal (id, cert_id, trigger, status, started_at, install_only, reason) VALUES ($id, $cert, $trigger, 'running', $at, $io, $reason)")
        .run({ id: r.id, cert: r.certId, trigger: r.trigger, at: r.startedAt.getTime(), io: r.installOnly ? 1 : 0, reason: r.reason }),
    );
  }

  async addStep(renewalId: string, e: StepEvent): Promise<void> {
    this.trail(() => {
      const seq = (this.lastSeq.get(renewalId) ?? this.storedSeq(renewalId)) + 1;
      this.db
        .query("INSERT INTO renewal_event (renewal_id, seq, step, at, status, message, duration_ms) VALUES ($id, $seq, $step, $at, $status, $msg, $ms)")
        .run({ id: renewalId, seq, step: e.step, at: e.at.getTime(), status: e.status, msg: e.message, ms: Math.round(e.durationMs) });
      this.lastSeq.set(renewalId, seq);
    });
  }

  /** The renewal's last stored step number, 0 before its first. */
  private storedSeq(renewalId: string): number {
    return (this.db.query("SELECT COALESCE(MAX(seq), 0) AS n FROM renewal_event WHERE renewal_id = $id").get({ id: renewalId }) as { n: number }).n;
  }

  async closeRenewal(id: string, status: Exclude<RenewalStatus, "running">, finishedAt: Date, error: string | null): Promise<void> {
    this.lastSeq.delete(id);
    this.trail(() =>
      this.db
        .query("UPDATE renewal SET status = $status, finished_at = $at, error = $error WHERE id = $id AND status = 'running'")
        .run({ id, status, at: finishedAt.getTime(), error }),
    );
  }

  async interruptRunning(at: Date): Promise<number> {
    this.lastSeq.clear();
    this.commitTrail();
    return this.db.query(INTERRUPT_RUNNING_SQL).run({ at: at.getTime() }).changes;
  }

  async getRenewal(id: string): Promise<Renewal | null> {
    const row = this.db.query("SELECT * FROM renewal WHERE id = $id").get({ id }) as RenewalRecord | null;
    return row ? this.withEvents([row])[0]! : null;
  }

  async listRenewals(q: RenewalQuery): Promise<Renewal[]> {
    return this.withEvents(this.renewalRows(q));
  }

  async listRenewalHeads(q: RenewalQuery): Promise<RenewalHead[]> {
    return this.renewalRows(q).map(renewalOf);
  }

  private renewalRows(q: RenewalQuery): RenewalRecord[] {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: q.limit };
    const filter = (sql: string, name: string, value: string | number) => {
      where.push(sql);
      params[name] = value;
    };
    if (q.certId !== undefined) filter("cert_id = $cert", "cert", q.certId);
    // Lists travel as one JSON parameter: any length, and one cached statement per shape of query.
    if (q.statuses) filter("status IN (SELECT value FROM json_each($statuses))", "statuses", JSON.stringify(q.statuses));
    if (q.triggers) filter("trigger IN (SELECT value FROM json_each($triggers))", "triggers", JSON.stringify(q.triggers));
    if (q.since) filter("started_at >= $since", "since", q.since.getTime());
    if (q.until) filter("started_at < $until", "until", q.until.getTime());
    // The list's own order as a row value: the page after a renewal does not move when newer rows arrive.
    if (q.before !== undefined) filter("(started_at, rowid) < (SELECT started_at, rowid FROM renewal WHERE id = $before)", "before", q.before);
    return this.db
      .query(`SELECT * FROM renewal ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY started_at DESC, rowid DESC LIMIT $limit`)
      .all(params) as RenewalRecord[];
  }

  async latestRenewals(certIds: readonly string[]): Promise<Map<string, RenewalHead>> {
    const rows = this.db.query(LATEST_RENEWALS_SQL).all({ ids: JSON.stringify(certIds) }) as RenewalRecord[];
    return new Map(rows.map((r) => [r.cert_id, renewalOf(r)]));
  }

  async saveIssued(c: IssuedCert): Promise<void> {
    const { keyType, names } = summaryColumns(c.leafPem);
    this.commitTrail();
    this.db.transaction(() => {
      // A no-op update on conflict, so that RETURNING gives the id of a chain stored already.
      const { id } = this.db
        .query("INSERT INTO issued_chain (pem) VALUES ($pem) ON CONFLICT (pem) DO UPDATE SET pem = excluded.pem RETURNING id")
        .get({ pem: c.chainPem }) as { id: number };
      this.db
        .query(
          // Numbered after every certificate the cert has: the order received is what "newest"
          // means, whatever the CA puts in notBefore and however long the certificate lives.
          `INSERT OR REPLACE INTO issued_cert (serial, cert_id, renewal_id, leaf_pem, chain_id, not_before, not_after, issued_at, key_type, names, seq)
           VALUES ($serial, $cert, $renewal, $leaf, $chain, $nb, $na, $at, $keyType, $names, (SELECT COALESCE(MAX(seq), 0) + 1 FROM issued_cert WHERE cert_id = $cert))`,
        )
        .run({
          serial: c.serial,
          cert: c.certId,
          renewal: c.renewalId,
          leaf: c.leafPem,
          chain: id,
          nb: c.notBefore.getTime(),
          na: c.notAfter.getTime(),
          at: c.issuedAt.getTime(),
          keyType,
          names,
        });
    })();
  }

  async latestIssued(certId: string): Promise<IssuedCert | null> {
    const row = this.db.query(`${ISSUED} WHERE i.cert_id = $cert ORDER BY i.seq DESC LIMIT 1`).get({ cert: certId }) as IssuedRecord | null;
    return row ? issuedOf(row) : null;
  }

  async latestIssuedSummaries(certIds: readonly string[]): Promise<Map<string, CertSummary>> {
    const rows = this.db.query(LATEST_SUMMARIES_SQL).all({ ids: JSON.stringify(certIds) }) as (SummaryRecord & { cert_id: string })[];
    const out = new Map<string, CertSummary>();
    for (const row of rows) {
      const summary = summaryOf(row);
      if (summary) out.set(row.cert_id, summary);
    }
    return out;
  }

  async saveInstalled(r: InstallRecord): Promise<void> {
    this.commitTrail();
    this.db
      .query("INSERT OR REPLACE INTO target_install (cert_id, target, serial, installed_at) VALUES ($cert, $target, $serial, $at)")
      .run({ cert: r.certId, target: r.target, serial: r.serial, at: r.installedAt.getTime() });
  }

  async lastInstalled(certId: string, target: string): Promise<IssuedCert | null> {
    const row = this.db
      .query(`${ISSUED} JOIN target_install t ON i.cert_id = t.cert_id AND i.serial = t.serial WHERE t.cert_id = $cert AND t.target = $target`)
      .get({ cert: certId, target }) as IssuedRecord | null;
    return row ? issuedOf(row) : null;
  }

  async lastInstalledSummary(certId: string, target: string): Promise<CertSummary | null> {
    const row = this.db
      .query(`${SUMMARY} JOIN target_install t ON i.cert_id = t.cert_id AND i.serial = t.serial WHERE t.cert_id = $cert AND t.target = $target`)
      .get({ cert: certId, target }) as SummaryRecord | null;
    return row ? summaryOf(row) : null;
  }

  async prune(before: Date, configured: readonly string[]): Promise<PruneResult> {
    this.commitTrail();
    const at = before.getTime();
    // The same orderings as latestRenewals and latestIssued: what they return is never pruned,
    // nor a certificate a target is recorded to serve (a target without read-back is taken at that word).
    const oldRenewals = `SELECT r.id FROM renewal r
       WHERE r.started_at < $at AND r.status != 'running'
         AND r.rowid != (SELECT r2.rowid FROM renewal r2 WHERE r2.cert_id = r.cert_id ORDER BY r2.started_at DESC, r2.rowid DESC LIMIT 1)`;
    return this.db.transaction(() => {
      // First: the certificates these records kept can then go in the same pass.
      const installs = this.db
        .query("DELETE FROM target_install WHERE cert_id NOT IN (SELECT value FROM json_each($certs))")
        .run({ certs: JSON.stringify(configured) }).changes;
      const steps = this.db.query(`DELETE FROM renewal_event WHERE renewal_id IN (${oldRenewals})`).run({ at }).changes;
      const renewals = this.db.query(`DELETE FROM renewal WHERE id IN (${oldRenewals})`).run({ at }).changes;
      const issued = this.db
        .query(
          `DELETE FROM issued_cert AS i
           WHERE i.issued_at < $at
             AND NOT EXISTS (SELECT 1 FROM target_install t WHERE t.cert_id = i.cert_id AND t.serial = i.serial)
             AND i.serial != (SELECT i2.serial FROM issued_cert i2 WHERE i2.cert_id = i.cert_id ORDER BY i2.seq DESC LIMIT 1)`,
        )
        .run({ at }).changes;
      this.db.exec("DELETE FROM issued_chain WHERE id NOT IN (SELECT chain_id FROM issued_cert WHERE chain_id IS NOT NULL)");
      const alerts = this.db.query("DELETE FROM alert_delivery WHERE at < $at").run({ at }).changes;
      return { renewals, steps, issued, installs, alerts };
    })();
  }

  async getCertState(certId: string): Promise<CertState | null> {
    const row = this.db.query("SELECT * FROM cert_state WHERE cert_id = $cert").get({ cert: certId }) as CertStateRecord | null;
    return row ? certStateOf(row) : null;
  }

  async certStates(certIds?: readonly string[]): Promise<Map<string, CertState>> {
    const rows = (
      certIds === undefined
        ? this.db.query("SELECT * FROM cert_state").all()
        : this.db.query("SELECT * FROM cert_state WHERE cert_id IN (SELECT value FROM json_each($ids))").all({ ids: JSON.stringify(certIds) })
    ) as CertStateRecord[];
    return new Map(rows.map((r) => [r.cert_id, certStateOf(r)]));
  }

  async putCertState(s: CertState): Promise<void> {
    this.commitTrail();
    this.db
      .query(
        "INSERT OR REPLACE INTO cert_state (cert_id, consecutive_failures, retry_at, last_error, authz_failures, halted_at, inputs) VALUES ($cert, $n, $retry, $err, $authz, $halted, $inputs)",
      )
      .run({ cert: s.certId, n: s.consecutiveFailures, retry: s.retryAt?.getTime() ?? null, err: s.lastError, authz: s.authzFailures, halted: s.haltedAt?.getTime() ?? null, inputs: s.inputs ?? null });
  }

  async renewalPlans(certIds: readonly string[]): Promise<Map<string, RenewalPlan>> {
    const rows = this.db.query("SELECT * FROM renewal_plan WHERE cert_id IN (SELECT value FROM json_each($ids))").all({ ids: JSON.stringify(certIds) }) as PlanRecord[];
    return new Map(rows.map((r) => [r.cert_id, planOf(r)]));
  }

  async putRenewalPlan(plan: RenewalPlan): Promise<void> {
    this.commitTrail();
    this.db.query(PUT_PLAN_SQL).run(planRecord(plan));
  }

  async alertLimit(sink: string, key: string): Promise<AlertLimit | null> {
    const row = this.db.query("SELECT * FROM alert_limit WHERE sink = $sink AND key = $key").get({ sink, key }) as AlertLimitRecord | null;
    return row
      ? { sink: row.sink, key: row.key, lastSentAt: new Date(row.last_sent_at), held: row.held, heldSince: row.held_since === null ? null : new Date(row.held_since), lastError: row.last_error }
      : null;
  }

  async putAlertLimit(l: AlertLimit): Promise<void> {
    this.commitTrail();
    this.db
      .query("INSERT OR REPLACE INTO alert_limit (sink, key, last_sent_at, held, held_since, last_error) VALUES ($sink, $key, $sent, $held, $since, $err)")
      .run({ sink: l.sink, key: l.key, sent: l.lastSentAt.getTime(), held: l.held, since: l.heldSince?.getTime() ?? null, err: l.lastError });
  }

  async clearAlertLimit(sink: string, key: string): Promise<void> {
    this.commitTrail();
    this.db.query("DELETE FROM alert_limit WHERE sink = $sink AND key = $key").run({ sink, key });
  }

  async recordDelivery(d: AlertDelivery): Promise<void> {
    this.commitTrail();
    this.db
      .query("INSERT INTO alert_delivery (alert_id, sink, event, cert_id, at, outcome, error, attempts) VALUES ($id, $sink, $event, $cert, $at, $outcome, $err, $attempts)")
      .run({ id: d.alertId, sink: d.sink, event: d.event, cert: d.certId, at: d.at.getTime(), outcome: d.outcome, err: d.error, attempts: d.attempts });
  }

  async listDeliveries(limit: number): Promise<AlertDelivery[]> {
    const rows = this.db.query("SELECT * FROM alert_delivery ORDER BY at DESC, seq DESC LIMIT $limit").all({ limit }) as DeliveryRecord[];
    return rows.map((r) => ({
      alertId: r.alert_id,
      sink: r.sink,
      event: r.event,
      certId: r.cert_id,
      at: new Date(r.at),
      outcome: r.outcome as DeliveryOutcome,
      error: r.error,
      attempts: r.attempts,
    }));
  }

  health(): StoreHealth {
    return { backend: "sqlite", connected: true, bufferedWrites: 0, droppedWrites: 0 };
  }

  /**
   * This connection's row changes (`total_changes()`, committed or not: its own reads see
   * them) and the commits of every other connection (`PRAGMA data_version`: renewal workers
   * store certificates through their own), after this store's serial: a fresh database that
   * replaced a damaged one starts both counts again.
   */
  async changeStamp(): Promise<string> {
    const r = this.db.query(CHANGE_STAMP_SQL).get() as { mine: number; theirs: number };
    return `${this.serial}:${r.mine}:${r.theirs}`;
  }

  async close(): Promise<void> {
    this.commitTrail();
    this.db.close();
  }

  /**
   * A trail row, in this turn's transaction when batching (`SqliteOptions.batchTrail`). A
   * renewal's rows (opened, a dozen steps, its end) mostly come in one or two turns, as its
   * worker's lines are read: one commit for them instead of one each took about 6 ms a
   * renewal off the daemon's thread on a slow disk (issue 11). A crash loses at most the
   * last turn's rows, as a crash a moment earlier would; a renewal left `running` is marked
   * interrupted at the next start either way.
   */
  private trail(write: () => void): void {
    if (!this.batchTrail) return void write();
    if (this.lost !== undefined) {
      const err = this.lost;
      this.lost = undefined;
      throw err;
    }
    if (!this.batchOpen) {
      this.db.exec("BEGIN");
      this.batchOpen = true;
      setImmediate(() => this.commitTrail());
    }
    try {
      write();
    } catch (err) {
      // A full disk or an I/O error rolls the whole transaction back, this turn's earlier rows with it.
      if (!this.db.inTransaction) this.batchOpen = false;
      throw err;
    }
  }

  /** Commits the trail rows waiting in this turn's transaction, if any. */
  private commitTrail(): void {
    if (!this.batchOpen) return;
    this.batchOpen = false;
    try {
      this.db.exec("COMMIT");
    } catch (err) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      this.lost = err;
    }
  }

  private withEvents(rows: RenewalRecord[]): Renewal[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const events = this.db
      .query(`SELECT * FROM renewal_event WHERE renewal_id IN (${ids.map(() => "?").join(",")}) ORDER BY renewal_id, seq`)
      .all(...ids) as EventRecord[];
    const byRenewal = new Map<string, StepEvent[]>();
    for (const e of events) {
      const list = byRenewal.get(e.renewal_id) ?? [];
      list.push({ step: e.step as StepName, at: new Date(e.at), status: e.status as StepStatus, message: e.message, durationMs: e.duration_ms });
      byRenewal.set(e.renewal_id, list);
    }
    return rows.map((r) => ({ ...renewalOf(r), events: byRenewal.get(r.id) ?? [] }));
  }
}

function renewalOf(r: RenewalRecord): RenewalHead {
  return {
    id: r.id,
    certId: r.cert_id,
    trigger: r.trigger as Trigger,
    installOnly: r.install_only === 1,
    reason: r.reason,
    status: r.status as RenewalStatus,
    startedAt: new Date(r.started_at),
    finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
    error: r.error,
    // SQLite is one node's store: cluster mode needs the shared SurrealDB.
    node: null,
  };
}

interface AlertLimitRecord {
  sink: string;
  key: string;
  last_sent_at: number;
  held: number;
  held_since: number | null;
  last_error: string | null;
}

interface DeliveryRecord {
  alert_id: string;
  sink: string;
  event: string;
  cert_id: string | null;
  at: number;
  outcome: string;
  error: string | null;
  attempts: number;
}

interface CertStateRecord {
  cert_id: string;
  consecutive_failures: number;
  retry_at: number | null;
  last_error: string | null;
  authz_failures: number;
  halted_at: number | null;
  inputs: string | null;
}

function certStateOf(row: CertStateRecord): CertState {
  return {
    certId: row.cert_id,
    consecutiveFailures: row.consecutive_failures,
    retryAt: row.retry_at === null ? null : new Date(row.retry_at),
    lastError: row.last_error,
    authzFailures: row.authz_failures,
    haltedAt: row.halted_at === null ? null : new Date(row.halted_at),
    ...(row.inputs === null ? {} : { inputs: row.inputs }),
  };
}

function issuedOf(row: IssuedRecord): IssuedCert {
  return {
    certId: row.cert_id,
    renewalId: row.renewal_id,
    leafPem: row.leaf_pem,
    chainPem: row.chain_pem,
    serial: row.serial,
    notBefore: new Date(row.not_before),
    notAfter: new Date(row.not_after),
    issuedAt: new Date(row.issued_at),
  };
}
