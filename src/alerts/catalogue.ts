/**
 * @module The alert catalogue (issue 8, docs/alerts.md): which events a sink may subscribe
 * to, which it gets by default, how severe each is, and which are held by the repeat limit.
 */
import type { Severity } from "../backends/types.ts";
import { SEVERITIES } from "../backends/types.ts";

/** The events a sink's `events` may name; `["*"]` subscribes to all of them. */
export const ALERT_EVENTS = [
  "renewal.failed",
  "cert.expiring",
  "cert.recovered",
  "renewal.succeeded",
  "target.action_required",
  "cert.halted",
  "cert.resumed",
  "store.disconnected",
  "store.reconnected",
  "cluster.leader_acquired",
  "cluster.leader_lost",
  "cluster.install_refused",
] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** What a sink without `events` gets. */
export const DEFAULT_ALERT_EVENTS: readonly AlertEvent[] = [
  "renewal.failed",
  "cert.expiring",
  "cert.recovered",
  "target.action_required",
  "cert.halted",
  "store.disconnected",
  "store.reconnected",
  // Never sent without [cluster]; with it, a survivor's leader_acquired is the only word of a leader that died.
  "cluster.leader_acquired",
  "cluster.leader_lost",
  "cluster.install_refused",
];

/**
 * Failure events share one repeat limit per (cert, sink): a cert failing at every tick while
 * it runs out of time sends one alert, then one reminder per `repeat_interval_hours`.
 */
export const FAILURE_EVENTS: ReadonlySet<string> = new Set(["renewal.failed", "cert.expiring"]);

/** Events that warn whatever the cert's expiry. */
const WARNINGS: ReadonlySet<string> = new Set(["store.disconnected", "cluster.leader_lost", "cluster.install_refused"]);

/** Events that mean rota stopped acting on its own until a person does: always critical, never held by the repeat limit. */
const NEEDS_A_PERSON: ReadonlySet<string> = new Set(["target.action_required", "cert.halted"]);

/**
 * `renewal.failed` and `cert.expiring` are critical once the cert is within
 * `expiry_warning_days` of expiry (or its expiry is unknown: nothing is served), warnings
 * before; `target.action_required` and `cert.halted` are always critical (nothing renews
 * until a person acts); `store.disconnected` warns (renewals cannot store a new certificate
 * meanwhile, and fail: their own alerts follow), as do `cluster.leader_lost` (another node
 * should take over within one lease; if none does, nothing renews) and
 * `cluster.install_refused` (that node keeps serving its old certificate until its key is
 * fixed); everything else (`cluster.leader_acquired` included) informs.
 */
export function severityOf(type: string, daysLeft: number | null, expiryWarningDays: number): Severity {
  if (NEEDS_A_PERSON.has(type)) return "critical";
  if (WARNINGS.has(type)) return "warning";
  if (!FAILURE_EVENTS.has(type)) return "info";
  return daysLeft !== null && daysLeft > expiryWarningDays ? "warning" : "critical";
}

/** Whether `severity` reaches a sink whose `min_severity` is `min`. */
export function atLeast(severity: Severity, min: Severity): boolean {
  return SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(min);
}
