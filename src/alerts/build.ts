/**
 * @module Renders an event into the `Alert` every sink receives: one sentence a person
 * reads first, and the facts (cert, renewal, what happens next, a link) the sinks lay out.
 * Pure: the service gathers the facts from the event, the config, the scheduler and the store.
 */
import type { Alert, Severity } from "../backends/types.ts";

const DAY_MS = 86_400_000;

export interface AlertFacts {
  id: string;
  type: string;
  severity: Severity;
  at: Date;
  node: string;
  cert: { id: string; domains: string[]; notAfter: Date | null } | null;
  renewal: Alert["renewal"];
  /** When rota tries again (the cert's cooldown), if it will. */
  retryAt: Date | null;
  repeats: Alert["repeats"];
  /** For a reminder: the error of the last failure held back. */
  lastHeldError: string | null;
  /** What the event itself says beyond the cert and renewal: a target's message, what a halt asks of a person. */
  detail: string | null;
  /** `[http] public_url`. */
  publicUrl: string | undefined;
}

/** `2030-01-01 03:00 UTC`: a time as a sentence says it. */
export function utcMinute(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export function buildAlert(f: AlertFacts): Alert {
  const daysLeft = f.cert?.notAfter ? Math.floor((f.cert.notAfter.getTime() - f.at.getTime()) / DAY_MS) : null;
  const cert = f.cert ? { id: f.cert.id, domains: f.cert.domains, notAfter: f.cert.notAfter, daysLeft } : null;
  return {
    id: f.id,
    type: f.type,
    severity: f.severity,
    occurredAt: f.at,
    node: f.node,
    message: message(f, daysLeft),
    cert,
    renewal: f.renewal,
    next: f.retryAt && f.retryAt > f.at ? `retries at ${f.retryAt.toISOString()}` : null,
    repeats: f.repeats,
    url: f.publicUrl && f.cert ? `${f.publicUrl.replace(/\/+$/, "")}/certs/${encodeURIComponent(f.cert.id)}` : null,
  };
}

function message(f: AlertFacts, daysLeft: number | null): string {
  const id = f.cert?.id ?? "a cert";
  const left = daysLeft === null ? "" : daysLeft < 0 ? ` (expired ${-daysLeft} day${-daysLeft === 1 ? "" : "s"} ago)` : ` (${daysLeft} day${daysLeft === 1 ? "" : "s"} left)`;
  const error = f.renewal?.error ?? f.lastHeldError;
  switch (f.type) {
    case "renewal.failed":
      if (f.repeats) return `Renewal of ${id} failed ${f.repeats.count} times since ${utcMinute(f.repeats.since)}${left}; last error: ${error ?? "unknown"}`;
      return `Renewal of ${id} failed${left}: ${error ?? "unknown error"}`;
    case "cert.expiring": {
      const when = f.cert?.notAfter ? `expires ${utcMinute(f.cert.notAfter)}${left}` : "is close to expiry";
      const held = f.repeats ? `; ${f.repeats.count} warnings since ${utcMinute(f.repeats.since)}` : "";
      return `${id} ${when} and has not been renewed${held}${f.lastHeldError ? `; last error: ${f.lastHeldError}` : ""}`;
    }
    case "cert.recovered":
      return `${id} renewed successfully after failing${left}`;
    case "renewal.succeeded":
      return `${id} renewed${left}`;
    case "target.action_required":
      return `Install target of ${id} needs a person: ${f.detail ?? "see its log"}`;
    case "cert.halted":
      return `${id} ${f.detail ?? "stopped retrying after repeated authorization failures"}${left}`;
    case "cert.resumed":
      return `${id} resumed: a forced renewal cleared its halt${left}`;
    case "store.disconnected":
      return `The audit store is not connected (${f.detail ?? "no answer"}): the audit trail waits in memory, and renewals cannot store new certificates until it is back`;
    case "store.reconnected":
      return `The audit store is connected again: ${f.detail ?? "buffered writes stored"}`;
    case "cluster.leader_acquired":
    case "cluster.leader_lost":
    case "cluster.install_refused":
      return `Cluster: ${f.detail ?? f.type}`;
    case "alert.test":
      return `Test alert from rota on ${f.node}${f.cert ? ` for ${f.cert.id}${left}` : ""}`;
    default:
      return `${f.type}: ${id}`;
  }
}
