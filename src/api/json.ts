/**
 * @module The JSON shapes of the HTTP API and the CLI's `--json` output. Field names are
 * a public contract: snake_case, ISO 8601 UTC times, null for "none".
 */
import type { ReloadResult } from "../daemon/daemon.ts";
import type { RotaEvent } from "../events.ts";
import type { RenewRequestResult } from "../scheduler/scheduler.ts";
import type { Renewal, RenewalHead } from "../store/types.ts";

/**
 * `checking`: the first look at its targets is still under way (right after a start or a
 * reload). `failed` and `cooldown` mean it needs attention (due, missing, expired, targets
 * disagreeing, or unreadable) and the last attempt failed; a cert that is fine stays `ok`
 * whatever its last forced renewal did.
 */
export type CertStatus = "ok" | "due" | "renewing" | "cooldown" | "failed" | "missing" | "checking";

export interface CertJson {
  id: string;
  /** As CAs and certificates have them: A-labels, canonical IP addresses. */
  domains: string[];
  /** The same names for people: U-labels (`bücher.example`), IP addresses as in `domains`. */
  domains_unicode: string[];
  status: CertStatus;
  not_after: string | null;
  days_left: number | null;
  next_check: string | null;
  retry_at: string | null;
  /** Since when it has needed work (due, missing, unreadable) without a successful renewal. */
  due_since: string | null;
  last_renewal: RenewalSummaryJson | null;
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
  events: StepJson[];
}

/** The most renewals one `GET /api/renewals` returns. */
export const MAX_RENEWALS_LIMIT = 1000;

export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

export function renewalSummaryJson(r: RenewalHead): RenewalSummaryJson {
  return { id: r.id, trigger: r.trigger, status: r.status, started_at: r.startedAt.toISOString(), finished_at: iso(r.finishedAt), error: r.error };
}

export function renewalJson(r: Renewal): RenewalJson {
  const { id, ...summary } = renewalSummaryJson(r);
  return { id, cert_id: r.certId, ...summary, install_only: r.installOnly, reason: r.reason, events: r.events.map(stepJson) };
}

export function stepJson(e: { step: string; at: Date; status: string; message: string; durationMs: number }): StepJson {
  return { step: e.step, at: e.at.toISOString(), status: e.status, message: e.message, duration_ms: Math.round(e.durationMs) };
}

export function reloadJson(r: Extract<ReloadResult, { ok: true }>): Record<string, unknown> {
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

export function renewResultJson(r: RenewRequestResult): Record<string, unknown> {
  switch (r.status) {
    case "started":
      return { status: r.status, renewal_id: r.renewalId, install_only: r.installOnly };
    case "cooldown":
      return { status: r.status, retry_at: r.retryAt.toISOString(), last_error: r.lastError };
    case "not_due":
      return { status: r.status, reason: r.reason };
    case "busy":
      return { status: r.status, renewal_id: r.renewalId };
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
  }
}
