/**
 * @module The JSON shapes of the HTTP API and the CLI's `--json` output. Field names are
 * a public contract: snake_case, ISO 8601 UTC times, null for "none".
 */
import type { ClusterBrief } from "../cluster/types.ts";
import type { ReloadResult } from "../daemon/daemon.ts";
import type { RotaEvent } from "../events.ts";
import type { RenewRequestResult } from "../scheduler/scheduler.ts";
import type { DeliveryResult } from "../alerts/dispatcher.ts";
import type { RenewReason } from "../scheduler/due.ts";
import type { AlertDelivery, Renewal, RenewalHead } from "../store/types.ts";

/**
 * `checking`: the first look at its targets is still under way (right after a start or a
 * reload). `unreadable`: a target could not be read at the last look (`look_error` says
 * why), so the scheduler leaves the cert alone until it answers. `failed` and `cooldown`
 * mean it needs attention (due, missing, expired, targets disagreeing) and the last
 * attempt failed; `halted`, that it needs attention and its authorizations failed
 * `max_authz_failures` times since its last success, so nothing is tried until
 * `rota renew --force`. A cert that is fine stays `ok` whatever its last forced renewal did.
 */
export const CERT_STATUSES = ["ok", "due", "renewing", "cooldown", "failed", "halted", "missing", "checking", "unreadable"] as const;
export type CertStatus = (typeof CERT_STATUSES)[number];

export interface CertJson {
  id: string;
  /** As CAs and certificates have them: A-labels, canonical IP addresses. */
  domains: string[];
  /** The same names for people: U-labels (`bücher.example`), IP addresses as in `domains`. */
  domains_unicode: string[];
  status: CertStatus;
  not_after: string | null;
  days_left: number | null;
  /**
   * When the newest certificate renews by time (its ARI window, the lifetime rule, or an
   * explicit threshold that comes first); null when nothing is installed or stored.
   */
  renew_at: string | null;
  /** Why it needs work, or (when it needs none) which rule set `renew_at`; null before the first look. */
  renew_reason: RenewReason | null;
  /** The CA's ARI window for the newest stored certificate, or null. */
  ari_window: { start: string; end: string } | null;
  /**
   * When the daemon next looks at this cert: null while it renews; `retry_at` in a cooldown;
   * otherwise the sooner of the next sweep, `renew_at` while still ahead, and its next ARI poll.
   */
  next_check: string | null;
  retry_at: string | null;
  /** Since when it has needed work (due, missing, unreadable) without a successful renewal. */
  due_since: string | null;
  last_renewal: RenewalSummaryJson | null;
  /** Why the last look could not read a target (an I/O error, a read-back timeout), or null. */
  look_error: string | null;
  /** Each install target, in config order, as the scheduler's last look found it. */
  targets: TargetJson[];
}

/** `GET /api/certs` with any query parameter: one page of the matching certs, and how many match. */
export interface CertPageJson {
  total: number;
  items: CertJson[];
}

export interface RenewalSummaryJson {
  id: string;
  trigger: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  error: string | null;
}

export interface StepJson {
  step: string;
  at: string;
  status: string;
  message: string;
  duration_ms: number;
}

export interface RenewalJson extends RenewalSummaryJson {
  cert_id: string;
  install_only: boolean;
  /** Why the run started (the scheduler's decision), or null. */
  reason: string | null;
  /** The daemon that ran it on a shared SurrealDB database (the cluster node, or `host/id`); null with SQLite. */
  node: string | null;
  events: StepJson[];
}

/** The most renewals one `GET /api/renewals` returns. */
export const MAX_RENEWALS_LIMIT = 1000;

export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

export function windowJson(w: { start: Date; end: Date } | null | undefined): { start: string; end: string } | null {
  return w ? { start: w.start.toISOString(), end: w.end.toISOString() } : null;
}

export function renewalSummaryJson(r: RenewalHead): RenewalSummaryJson {
  return { id: r.id, trigger: r.trigger, status: r.status, started_at: r.startedAt.toISOString(), finished_at: iso(r.finishedAt), error: r.error };
}

export function renewalJson(r: Renewal): RenewalJson {
  const { id, ...summary } = renewalSummaryJson(r);
  return { id, cert_id: r.certId, ...summary, install_only: r.installOnly, reason: r.reason, node: r.node, events: r.events.map(stepJson) };
}

export function stepJson(e: { step: string; at: Date; status: string; message: string; durationMs: number }): StepJson {
  return { step: e.step, at: e.at.toISOString(), status: e.status, message: e.message, duration_ms: Math.round(e.durationMs) };
}

/** `GET /api/status`. */
export interface StatusJson {
  version: string;
  pid: number;
  config: string;
  started_at: string;
  uptime_seconds: number;
  certs: number;
  by_status: Partial<Record<CertStatus, number>>;
  check_interval_seconds: number;
  next_tick: string | null;
  audit: { backend: "sqlite" | "surrealdb"; connected: boolean; buffered_writes: number; dropped_writes: number };
  /** Null when `[cluster]` is off. */
  cluster: ClusterBrief | null;
}

/** `GET /api/certs/{id}`: the list row plus the config and the scheduler's reasoning. */
export interface CertDetailJson extends CertJson {
  ca: string;
  dcv: string | null;
  install: string[];
  key_type: string;
  /** Lifetime of the newest stored certificate in days (notAfter − notBefore), or null. */
  lifetime_days: number | null;
  /** The ACME profile the cert asks for, or null. */
  profile: string | null;
  /** The explicit threshold and where it is set; both null when unset (the lifetime rule alone). */
  renew_threshold_days: number | null;
  renew_threshold_source: "cert" | "daemon" | null;
  /** What the CA's ARI last said about the newest stored certificate; null when it was never asked, or gives no ARI for it. */
  ari: AriJson | null;
  reason: string | null;
  /** Authorizations the CA turned invalid since the last success. */
  authz_failures: number;
  /** Since when the cert is halted (no renewal is tried without `--force`); null when it is not. */
  halted_at: string | null;
  latest_issued: { serial: string; not_before: string | null; not_after: string | null; issued_at: string | null } | null;
}

export interface AriJson {
  cert_id: string;
  window: { start: string; end: string } | null;
  explanation_url: string | null;
  polled_at: string;
  next_poll_at: string;
  /** Why no window could be used (HTTP 404, 5xx, not JSON, an inverted window…); the lifetime rule then applies. */
  error: string | null;
}

/** What one install target serves at the scheduler's last look. */
export interface TargetJson {
  name: string;
  /** Its `[[install]]` section's `type`; null when the section is gone (a reload). */
  type: string | null;
  /** The serial it serves; null when it serves nothing, a damaged set, could not be read, or has not been looked at yet. */
  serial: string | null;
  not_after: string | null;
  /** `serial` is the newest stored certificate's. */
  matches_latest: boolean;
  /** Why it serves nothing usable (`damaged: …`), why it could not be read, or why a `verify_served` endpoint could not be asked; null otherwise. */
  error: string | null;
}

/** `POST /api/reload`: 200 when applied, 422 when the file is broken (nothing changed). */
export type ReloadJson =
  | {
      status: "reloaded";
      summary: string;
      added: string[];
      removed: string[];
      changed: string[];
      backends_changed: string[];
      settings_changed: string[];
      restart_required: string[];
    }
  | { status: "invalid"; error: string; problems: string[] };

/** `POST /api/certs/{id}/renew`. */
export type RenewReplyJson =
  | { status: "started"; renewal_id: string; install_only: boolean }
  | { status: "cooldown"; retry_at: string; last_error: string | null }
  | { status: "halted"; halted_at: string; failures: number; last_error: string | null }
  | { status: "not_due"; reason: string; renew_at: string | null; ari_window: { start: string; end: string } | null }
  | { status: "busy"; renewal_id: string }
  | { status: "not_leader"; leader: string | null; term: number | null };

/** The most deliveries one `GET /api/alerts` returns. */
export const MAX_ALERTS_LIMIT = 1000;

/** `GET /api/alerts`: one attempt to deliver an alert to a sink. */
export interface DeliveryJson {
  alert_id: string;
  sink: string;
  event: string;
  cert_id: string | null;
  at: string;
  outcome: AlertDelivery["outcome"];
  error: string | null;
  attempts: number;
}

export function deliveryJson(d: AlertDelivery): DeliveryJson {
  return { alert_id: d.alertId, sink: d.sink, event: d.event, cert_id: d.certId, at: d.at.toISOString(), outcome: d.outcome, error: d.error, attempts: d.attempts };
}

/** `POST /api/alerts/test`: each sink's outcome. */
export interface TestResultJson {
  sink: string;
  outcome: DeliveryResult["outcome"];
  error: string | null;
  attempts: number;
}

/** `POST /api/alerts/test` naming what is not configured: `unknown` says which of the two. */
export interface UnknownJson {
  error: string;
  unknown: "sink" | "cert";
}

/** Any error reply: 4xx and 5xx. */
export interface ErrorJson {
  error: string;
}

/** `POST /api/cluster/step-down` on a node that does not lead (409): who does, or null when no node does. */
export interface NotLeaderJson {
  error: "not the leader";
  leader: string | null;
}

export function reloadJson(r: Extract<ReloadResult, { ok: true }>): ReloadJson {
  return {
    status: "reloaded",
    summary: r.summary,
    added: r.added,
    removed: r.removed,
    changed: r.changed,
    backends_changed: r.backendsChanged,
    settings_changed: r.settingsChanged,
    restart_required: r.restartRequired,
  };
}

export function renewResultJson(r: RenewRequestResult): RenewReplyJson {
  switch (r.status) {
    case "started":
      return { status: r.status, renewal_id: r.renewalId, install_only: r.installOnly };
    case "cooldown":
      return { status: r.status, retry_at: r.retryAt.toISOString(), last_error: r.lastError };
    case "halted":
      return { status: r.status, halted_at: r.haltedAt.toISOString(), failures: r.failures, last_error: r.lastError };
    case "not_due":
      return { status: r.status, reason: r.reason, renew_at: iso(r.renewAt), ari_window: windowJson(r.ariWindow) };
    case "busy":
      return { status: r.status, renewal_id: r.renewalId };
    case "not_leader":
      return { status: r.status, leader: r.leader, term: r.term };
  }
}

/**
 * One frame of `GET /api/events`. Fields are picked one by one, never spread, so a field
 * added to an event reaches clients only when it is added here; a new event type fails to
 * compile until it is.
 */
export function eventJson(e: RotaEvent): Record<string, unknown> {
  switch (e.type) {
    case "renewal.started":
      return { type: e.type, renewal_id: e.renewalId, cert_id: e.certId, trigger: e.trigger, install_only: e.installOnly, reason: e.reason, at: e.at.toISOString() };
    case "renewal.step_started":
      return { type: e.type, renewal_id: e.renewalId, cert_id: e.certId, step: e.step, at: e.at.toISOString() };
    case "renewal.step":
      return {
        type: e.type,
        renewal_id: e.renewalId,
        cert_id: e.certId,
        step: e.step,
        status: e.status,
        message: e.message,
        duration_ms: Math.round(e.durationMs),
        at: e.at.toISOString(),
      };
    case "renewal.succeeded":
      return { type: e.type, renewal_id: e.renewalId, cert_id: e.certId, serial: e.serial, not_after: iso(e.notAfter), at: e.at.toISOString() };
    case "renewal.failed":
      return {
        type: e.type,
        renewal_id: e.renewalId,
        cert_id: e.certId,
        error: e.error,
        interrupted: e.interrupted,
        retry_at: iso(e.retryAt),
        at: e.at.toISOString(),
      };
    case "cert.due":
      return { type: e.type, cert_id: e.certId, reason: e.reason, at: e.at.toISOString() };
    case "cert.expiring":
      return { type: e.type, cert_id: e.certId, days_left: e.daysLeft, not_after: e.notAfter.toISOString(), at: e.at.toISOString() };
    case "cert.recovered":
      return { type: e.type, cert_id: e.certId, renewal_id: e.renewalId, at: e.at.toISOString() };
    case "cert.halted":
      return { type: e.type, cert_id: e.certId, failures: e.failures, last_error: e.lastError, at: e.at.toISOString() };
    case "cert.resumed":
      return { type: e.type, cert_id: e.certId, at: e.at.toISOString() };
    case "alert.test":
      return { type: e.type, cert_id: e.certId, sink: e.sink, at: e.at.toISOString() };
    case "target.action_required":
      return { type: e.type, target: e.target, cert_id: e.certId, code: e.code, message: e.message, at: e.at.toISOString() };
    case "store.disconnected":
      return { type: e.type, error: e.error, at: e.at.toISOString() };
    case "cluster.leader_acquired":
      return { type: e.type, node_id: e.nodeId, term: e.term, at: e.at.toISOString() };
    case "cluster.leader_lost":
      return { type: e.type, node_id: e.nodeId, term: e.term, reason: e.reason, at: e.at.toISOString() };
    case "cluster.install_refused":
      return { type: e.type, node_id: e.nodeId, cert_id: e.certId, serial: e.serial, reason: e.reason, at: e.at.toISOString() };
    case "store.reconnected":
      return { type: e.type, flushed: e.flushed, dropped: e.dropped, at: e.at.toISOString() };
  }
}
