/**
 * @module The audit store contract: renewals with their step events, issued certificates
 * (never keys), and each cert's failure state. SQLite (the default, embedded) and SurrealDB
 * (a shared server, `[audit] backend = "surrealdb"`) implement it; one contract suite
 * (`contract.ts`) runs against both.
 */
import type { Fence } from "../cluster/types.ts";
import type { CertSummary } from "../crypto/summary.ts";
import type { StepName, StepStatus, Trigger } from "../events.ts";

export type RenewalStatus = "running" | "succeeded" | "failed" | "interrupted";

export interface StepEvent {
  step: StepName;
  at: Date;
  status: StepStatus;
  message: string;
  durationMs: number;
}

export interface Renewal {
  id: string;
  certId: string;
  trigger: Trigger;
  /** A run that only re-installed a stored certificate, no new order. */
  installOnly: boolean;
  /** Why the run started, as the scheduler decided it ("files: damaged: privkey.pem is missing"); null when not recorded. */
  reason: string | null;
  status: RenewalStatus;
  startedAt: Date;
  finishedAt: Date | null;
  error: string | null;
  /**
   * The daemon that ran it, on a SurrealDB database daemons share: `[cluster] node_id` in
   * cluster mode, else the store's owner (`host/id`, see `open.ts`); always null with SQLite.
   */
  node: string | null;
  events: StepEvent[];
}

/** A renewal without its steps: what lists of many certs need. */
export type RenewalHead = Omit<Renewal, "events">;

export interface IssuedCert {
  certId: string;
  renewalId: string;
  leafPem: string;
  chainPem: string;
  /** Lowercase hex. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  issuedAt: Date;
  /** Cluster mode: the lease term, and the node, under which it was ordered. */
  term?: number;
  node?: string;
}

/** That `target` serves `serial` for the cert since `installedAt`: an install there succeeded. */
export interface InstallRecord {
  certId: string;
  target: string;
  serial: string;
  installedAt: Date;
}

/** What survives a restart about a cert's failures: the cooldown is not reset by restarting the daemon. */
export interface CertState {
  certId: string;
  consecutiveFailures: number;
  retryAt: Date | null;
  lastError: string | null;
  /** Authorizations the CA turned invalid since the last success, whatever failed in between. */
  authzFailures: number;
  /** Since when no renewal is tried without `--force` (`[daemon] max_authz_failures` reached); null when not halted. */
  haltedAt: Date | null;
  /**
   * The fingerprint of the order inputs (scheduler/order-inputs.ts) of the renewal whose
   * failure set `retryAt`: a config whose inputs differ ends the cooldown. Absent after a
   * success, and in a state written before rota kept it.
   */
  inputs?: string;
}

/**
 * What the CA's ARI last said about a certificate (RFC 9773): its window (null when the
 * answer was a fault, `error` then says why), and when to ask again. `certId` is null when
 * the CA gives no ARI for it (no renewalInfo, no AKI): `error` says why, and it is asked
 * again at `nextPollAt` only.
 */
export interface AriRecord {
  certId: string | null;
  window: { start: Date; end: Date } | null;
  explanationUrl: string | null;
  polledAt: Date;
  nextPollAt: Date;
  error: string | null;
}

/** When a cert's newest certificate (`serial`) renews and why, and the CA's ARI advice for it; kept across restarts. */
export interface RenewalPlan {
  certId: string;
  serial: string;
  renewAt: Date;
  reason: "ari" | "lifetime" | "threshold";
  /** Null until its CA has been asked (and for CAs that give no advice). */
  ari: AriRecord | null;
}

/**
 * The repeat limit of one sink for one cert (or one event type without a cert): a failure
 * alert was sent at `lastSentAt`, and `held` more were held back since `heldSince`.
 * Present while a failure alert stands unanswered by a recovery.
 */
export interface AlertLimit {
  sink: string;
  /** The cert id, or `event:<type>` for events without a cert. */
  key: string;
  lastSentAt: Date;
  held: number;
  heldSince: Date | null;
  /** The last held alert's error, for the reminder. */
  lastError: string | null;
}

/**
 * `delivered`; `retrying`: this attempt failed and another follows; `failed`: the last
 * attempt failed (or the sink refused it for good); `not_sent`: shutdown or a full queue came first.
 */
export type DeliveryOutcome = "delivered" | "retrying" | "failed" | "not_sent";

/** One attempt to deliver an alert to one sink (or one never made). */
export interface AlertDelivery {
  /** The Alert's id (the receivers' de-duplication key). */
  alertId: string;
  sink: string;
  event: string;
  certId: string | null;
  at: Date;
  outcome: DeliveryOutcome;
  error: string | null;
  /** Which attempt this was (1, 2, 3); for `not_sent`, how many were made before. */
  attempts: number;
}

/** A search of the audit trail; every field but `limit` narrows it, and they combine. */
export interface RenewalQuery {
  certId?: string;
  /** Any of these statuses. */
  statuses?: readonly RenewalStatus[];
  /** Any of these triggers. */
  triggers?: readonly Trigger[];
  /** Started at or after. */
  since?: Date;
  /** Started before. */
  until?: Date;
  /**
   * Keyset pagination: only renewals after this one in the newest-first order, by its id.
   * Rows inserted meanwhile never shift a page. An id not in the store matches nothing.
   */
  before?: string;
  limit: number;
}

/** What one `prune` removed. */
export interface PruneResult {
  renewals: number;
  steps: number;
  issued: number;
  /** Install records of certs no longer configured. */
  installs: number;
  /** Alert delivery records. */
  alerts: number;
}

/** Whether the store reaches its database, and what waits for it. */
export interface StoreHealth {
  backend: "sqlite" | "surrealdb";
  connected: boolean;
  /** Audit trail writes accepted and not yet stored (a buffering store during an outage). */
  bufferedWrites: number;
  /** Audit trail writes given up since the store opened (the outage buffer was full). */
  droppedWrites: number;
}

/**
 * All methods are safe to call concurrently; writes for one renewal are applied in
 * call order. "Not found" is null, never an exception.
 *
 * A store on a server may fail any call with `RotaError("store_unavailable")` after at
 * most 5 s (the message names the server: `audit: SurrealDB at <url> is not connected`).
 * On a buffering store (the daemon's), `openRenewal`, `addStep` and `closeRenewal` resolve
 * once the write is accepted: during an outage it waits in memory, in order, and is
 * stored on reconnect; every other call fails fast.
 */
export interface AuditStore {
  openRenewal(r: { id: string; certId: string; trigger: Trigger; installOnly: boolean; reason: string | null; startedAt: Date }): Promise<void>;
  addStep(renewalId: string, event: StepEvent): Promise<void>;
  closeRenewal(id: string, status: Exclude<RenewalStatus, "running">, finishedAt: Date, error: string | null): Promise<void>;
  /** Closes every row still `running` (left by a crash) as `interrupted`; returns how many. */
  interruptRunning(at: Date): Promise<number>;
  getRenewal(id: string): Promise<Renewal | null>;
  /** Newest first (by start, then by insertion). */
  listRenewals(q: RenewalQuery): Promise<Renewal[]>;
  /** The rows `listRenewals` returns, without their steps: for a caller that needs only how renewals ended, after each one. */
  listRenewalHeads(q: RenewalQuery): Promise<RenewalHead[]>;
  /**
   * The newest renewal of each of `certIds` that has one, without steps, keyed by cert id:
   * one read for a list of many certs, costing the same however long their history.
   */
  latestRenewals(certIds: readonly string[]): Promise<Map<string, RenewalHead>>;

  /**
   * Stores an issued certificate. With a `fence` (cluster mode, the Surreal store only) the
   * write happens only while that node and instance still hold the lease at that term,
   * checked in the write's own transaction; otherwise nothing is stored and it throws
   * `RotaError("fenced")`. SQLite is never given one.
   */
  saveIssued(cert: IssuedCert, fence?: Fence): Promise<void>;
  /**
   * The cert's newest issued certificate, or null: the one stored last (issue 2 §4, every
   * target converges on it). Not the one that expires last: a certificate's lifetime can get
   * shorter (a CA's policy, `validity_days`), and notBefore is the CA's clock, which may be
   * skewed or backdated. Saving a serial again makes it the newest.
   */
  latestIssued(certId: string): Promise<IssuedCert | null>;
  /**
   * What a scheduler tick needs of `latestIssued` for each of `certIds`, without PEMs (read
   * and parsed once, when saved), keyed by cert id: one read for many certs. A cert is left
   * out when it has none, or when its leaf cannot be parsed.
   */
  latestIssuedSummaries(certIds: readonly string[]): Promise<Map<string, CertSummary>>;

  /**
   * Records that `target` now serves `serial` for the cert: an install there succeeded. Replaces the previous record.
   * In cluster mode the record is this node's own (every node has its targets of that name): another node's never reads it.
   */
  saveInstalled(r: InstallRecord): Promise<void>;
  /**
   * The stored certificate last installed successfully on `target` (in cluster mode, by this
   * node), or null when none was (or its issued row is gone). What a target that cannot read
   * back is taken to serve.
   */
  lastInstalled(certId: string, target: string): Promise<IssuedCert | null>;
  /** `lastInstalled`'s summary, without its PEMs; null as there, or when its leaf cannot be parsed. */
  lastInstalledSummary(certId: string, target: string): Promise<CertSummary | null>;
  /**
   * Deletes finished renewals started before `before` with their steps, issued
   * certificates issued before it, alert delivery records made before it, and the install
   * records of every cert not in `configured`. Always kept, however old: each cert's newest renewal, the issued
   * certificate `latestIssued` returns, and renewals still running.
   */
  prune(before: Date, configured: readonly string[]): Promise<PruneResult>;

  getCertState(certId: string): Promise<CertState | null>;
  /** Every cert's failure state (only `certIds`' when given), keyed by cert id: one read for a list of many certs. */
  certStates(certIds?: readonly string[]): Promise<Map<string, CertState>>;
  putCertState(state: CertState): Promise<void>;

  /** The renewal plans of `certIds` that have one, keyed by cert id: one read for many certs. */
  renewalPlans(certIds: readonly string[]): Promise<Map<string, RenewalPlan>>;
  /** Replaces the cert's plan. */
  putRenewalPlan(plan: RenewalPlan): Promise<void>;

  alertLimit(sink: string, key: string): Promise<AlertLimit | null>;
  putAlertLimit(limit: AlertLimit): Promise<void>;
  /** Forgets the limit: the next failure alert goes out at once. Tolerates one already gone. */
  clearAlertLimit(sink: string, key: string): Promise<void>;
  recordDelivery(d: AlertDelivery): Promise<void>;
  /** Newest first (by time, then by insertion). */
  listDeliveries(limit: number): Promise<AlertDelivery[]>;

  /** Never throws, never waits: what `/api/status` and `rota status` show. */
  health(): StoreHealth;

  /** A buffering store first stores or spools what it holds (see its own doc). */
  close(): Promise<void>;
}

/**
 * A store that can say, cheaply, that nothing was written since an earlier answer: the same
 * stamp twice means no write by this process or any other came in between, so a reader may
 * keep what it read after the first. A different stamp says only that something may have
 * changed. SQLite has one; a store on a server (other nodes write to it) does not.
 */
export interface ChangeStamped {
  changeStamp(): Promise<string>;
}

export function hasChangeStamp(store: AuditStore): store is AuditStore & ChangeStamped {
  return typeof (store as Partial<ChangeStamped>).changeStamp === "function";
}

/**
 * A store several daemons without `[cluster]` may share (SurrealDB): each cert id belongs to
 * one of them, since the store keys a cert's records (cooldown, issued certificates, plan)
 * by its id alone.
 */
export interface CertClaims {
  /**
   * Claims `certIds` for this store's owner and gives up its claims on every other id. Ids
   * another owner holds are not taken: returned, keyed by cert id, with that owner. Two
   * daemons claiming one id at once: one gets it. Fails with `store_unavailable` as any call.
   */
  claimCerts(certIds: readonly string[]): Promise<Map<string, string>>;
}

export function hasCertClaims(store: AuditStore): store is AuditStore & CertClaims {
  return typeof (store as Partial<CertClaims>).claimCerts === "function";
}
