/**
 * @module An alert as an email: the subject, a plain-text part and an HTML part built
 * from one list of facts, so both parts always say the same thing. Pure: no clock, no I/O.
 */
import type { Alert } from "../../types.ts";

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
}

/** One line of the body: a label and its value; `block` values (an error's full text) keep their lines. */
interface Fact {
  label: string;
  value: string;
  block?: boolean;
}

/** What happened, as the subject says it after the cert id. */
const HAPPENED: Record<string, string> = {
  "renewal.failed": "renewal failed",
  "renewal.succeeded": "renewed",
  "cert.expiring": "expiring",
  "cert.recovered": "renewal recovered",
  "cert.halted": "renewals halted",
  "cert.resumed": "renewals resumed",
  "alert.test": "test alert",
};

export function renderEmail(alert: Alert, subjectPrefix: string): EmailMessage {
  // Only the error keeps its lines; anywhere else a newline in a value would forge a line of the body.
  const facts = factsOf(alert).map((f) => (f.block ? f : { ...f, value: oneLine(f.value) }));
  const lead = [oneLine(alert.message), ...(alert.repeats ? [repeatLine(alert)] : [])];
  return { subject: subjectOf(alert, subjectPrefix), text: textOf(lead, facts, alert), html: htmlOf(lead, facts, alert) };
}

/** "[rota] www: renewal failed (3 days left)". Control characters become spaces: a newline here would start a new header. */
export function subjectOf(alert: Alert, prefix: string): string {
  const happened = HAPPENED[alert.type] ?? alert.type;
  const days = alert.cert?.daysLeft;
  const left = days === null || days === undefined ? "" : ` (${daysLeft(days)})`;
  const subject = alert.cert ? `${prefix} ${alert.cert.id}: ${happened}${left}` : `${prefix} ${happened}`;
  return oneLine(subject);
}

function factsOf(alert: Alert): Fact[] {
  const facts: Fact[] = [];
  const { cert, renewal } = alert;
  if (cert) {
    facts.push({ label: "Certificate", value: cert.id });
    facts.push({ label: "Domains", value: cert.domains.join(", ") });
    if (cert.notAfter) {
      const days = cert.daysLeft === null ? "" : ` (${daysLeft(cert.daysLeft)})`;
      facts.push({ label: "Expires", value: `${utc(cert.notAfter)}${days}` });
    }
  }
  if (renewal) {
    if (renewal.failedStep) facts.push({ label: "Failed step", value: renewal.failedStep });
    if (renewal.error) facts.push({ label: "Error", value: renewal.error, block: true });
  }
  facts.push({ label: "When", value: utc(alert.occurredAt) });
  if (renewal) facts.push({ label: "Renewal", value: `${renewal.id} (${renewal.trigger}, ${renewal.status})` });
  facts.push({ label: "Node", value: alert.node });
  if (alert.next) facts.push({ label: "Next", value: alert.next });
  if (alert.url) facts.push({ label: "Dashboard", value: alert.url });
  return facts;
}

/** The reminder sent when the repeat limit held some back: "failed 37 times since 2026-12-01 03:00 UTC". */
function repeatLine(alert: Alert): string {
  const r = alert.repeats!;
  const verb = alert.type === "renewal.failed" ? "Failed" : "Reported";
  return `${verb} ${r.count} ${r.count === 1 ? "time" : "times"} since ${utc(r.since)}.`;
}

function footer(alert: Alert): string {
  return `Sent by rota (${alert.type}, ${alert.severity}); alert id ${alert.id}.`;
}

function textOf(lead: string[], facts: Fact[], alert: Alert): string {
  const width = Math.max(...facts.map((f) => f.label.length)) + 2;
  const lines = facts.map((f) =>
    f.block && f.value.includes("\n")
      ? `${f.label}:\n${indent(f.value)}`
      : `${`${f.label}:`.padEnd(width)}${f.value}`,
  );
  return [...lead, "", ...lines, "", "-- ", footer(alert), ""].join("\n");
}

function htmlOf(lead: string[], facts: Fact[], alert: Alert): string {
  const rows = facts.map((f) => {
    const value = f.block
      ? `<pre style="margin:0;white-space:pre-wrap">${escapeHtml(f.value)}</pre>`
      : f.label === "Dashboard" && isHttpUrl(f.value)
        ? `<a href="${escapeHtml(f.value)}">${escapeHtml(f.value)}</a>`
        : escapeHtml(f.value);
    return `<tr><th align="left" valign="top" style="padding-right:1em">${escapeHtml(f.label)}</th><td>${value}</td></tr>`;
  });
  return [
    `<!doctype html>`,
    `<html><body style="font-family:sans-serif">`,
    ...lead.map((l, i) => (i === 0 ? `<p><strong>${escapeHtml(l)}</strong></p>` : `<p>${escapeHtml(l)}</p>`)),
    `<table>`,
    ...rows,
    `</table>`,
    `<p style="color:#666;font-size:small">${escapeHtml(footer(alert))}</p>`,
    `</body></html>`,
    "",
  ].join("\n");
}

function daysLeft(days: number): string {
  if (days < 0) return "expired";
  return `${days} ${days === 1 ? "day" : "days"} left`;
}

/** "2026-12-01 03:00 UTC": the same reading on every mail client, whatever its time zone. */
function utc(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function indent(s: string): string {
  return s
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]+/g, " ");
}

/** Only a web link becomes clickable: a `javascript:` URL in an alert must not be one. */
function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
