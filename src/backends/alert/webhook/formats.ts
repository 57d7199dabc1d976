/**
 * @module What a webhook sends for one alert, per `format`: rota's versioned JSON envelope,
 * or the shape Slack, Discord or ntfy take on their incoming-webhook URLs. Pure: the same
 * alert gives the same bytes, so a signature covers exactly what goes on the wire.
 */
import type { Alert, Severity } from "../../types.ts";

export const WEBHOOK_FORMATS = ["json", "slack", "discord", "ntfy"] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** The body and the headers that describe it (Content-Type, and ntfy's metadata). */
export interface Rendered {
  body: string;
  headers: Record<string, string>;
}

/** Version 1 of the envelope (`docs/alerts.md`); a field's meaning never changes within a version. */
interface Envelope {
  version: 1;
  id: string;
  type: string;
  severity: Severity;
  occurred_at: string;
  node: string;
  message: string;
  cert: { id: string; domains: string[]; not_after: string | null; days_left: number | null } | null;
  renewal: { id: string; trigger: string; status: string; failed_step: string | null; error: string | null } | null;
  url: string | null;
}

function envelope(a: Alert): Envelope {
  return {
    version: 1,
    id: a.id,
    type: a.type,
    severity: a.severity,
    occurred_at: a.occurredAt.toISOString(),
    node: a.node,
    message: a.message,
    cert: a.cert && {
      id: a.cert.id,
      domains: a.cert.domains,
      not_after: a.cert.notAfter?.toISOString() ?? null,
      days_left: a.cert.daysLeft,
    },
    renewal: a.renewal && {
      id: a.renewal.id,
      trigger: a.renewal.trigger,
      status: a.renewal.status,
      failed_step: a.renewal.failedStep,
      error: a.renewal.error,
    },
    url: a.url,
  };
}

const JSON_TYPE = "application/json";
/** https://discord.com/developers/docs/resources/webhook#execute-webhook: "the message contents (up to 2000 characters)", counted in UTF-16 units. */
const DISCORD_MAX = 2000;
/** ntfy's message limit (https://github.com/binwiederhier/ntfy/releases/tag/v1.11.0): a longer body arrives as an attachment, not as the message. */
const NTFY_MAX_BYTES = 4096;
/** https://docs.ntfy.sh/publish/#message-priority: 5 = max/urgent, 4 = high, 3 = default. */
const NTFY_PRIORITY: Record<Severity, string> = { critical: "5", warning: "4", info: "3" };
/** https://docs.ntfy.sh/publish/#tags-emojis: a tag that is an emoji short code shows as the emoji before the title. */
const NTFY_EMOJI: Record<Severity, string> = { critical: "rotating_light", warning: "warning", info: "information_source" };

export function render(a: Alert, format: WebhookFormat): Rendered {
  switch (format) {
    case "json":
      return { body: JSON.stringify(envelope(a)), headers: { "Content-Type": JSON_TYPE } };
    case "slack":
      // https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks: `{"text": …}`;
      // https://docs.slack.dev/messaging/formatting-message-text#escaping: &, < and > are control characters.
      return { body: JSON.stringify({ text: escapeSlack(summary(a)) }), headers: { "Content-Type": JSON_TYPE } };
    case "discord":
      // allowed_mentions with no parse types: an "@everyone" inside a CA's error text pings nobody.
      return {
        body: JSON.stringify({ content: cutTo(summary(a), DISCORD_MAX, (s) => s.length), allowed_mentions: { parse: [] } }),
        headers: { "Content-Type": JSON_TYPE },
      };
    case "ntfy":
      // https://docs.ntfy.sh/publish/: the body is the message; title, priority and tags travel as headers.
      return {
        body: cutTo(details(a), NTFY_MAX_BYTES, (s) => Buffer.byteLength(s)),
        headers: {
          "Content-Type": "text/plain; charset=utf-8",
          Title: headerText(`rota: ${what(a)}`),
          Priority: NTFY_PRIORITY[a.severity],
          Tags: `${NTFY_EMOJI[a.severity]},rota,${a.type}`,
          ...(a.url ? { Click: a.url } : {}),
        },
      };
  }
}

/** What happened, to which cert: the ntfy title and the chat headline. */
function what(a: Alert): string {
  return a.cert ? `${a.type} for ${a.cert.id}` : a.type;
}

/** One message a person reads in a chat: the headline, then the facts. */
function summary(a: Alert): string {
  return `[${a.severity.toUpperCase()}] rota: ${what(a)}\n${details(a)}`;
}

function details(a: Alert): string {
  const lines = [a.message];
  if (a.cert) {
    const left = a.cert.daysLeft === null ? "" : `, ${a.cert.daysLeft} days left`;
    const expiry = a.cert.notAfter ? ` (expires ${a.cert.notAfter.toISOString()}${left})` : "";
    lines.push(`Cert: ${a.cert.id}: ${a.cert.domains.join(", ")}${expiry}`);
  }
  if (a.renewal) {
    const step = a.renewal.failedStep ? ` at ${a.renewal.failedStep}` : "";
    lines.push(`Renewal ${a.renewal.id} (${a.renewal.trigger}): ${a.renewal.status}${step}`);
    if (a.renewal.error) lines.push(`Error: ${a.renewal.error}`);
  }
  // `count` includes this alert (the router's reminder), as the sentence above says it.
  if (a.repeats) lines.push(`Reminder: ${a.repeats.count} ${a.repeats.count === 1 ? "time" : "times"} since ${a.repeats.since.toISOString()}`);
  if (a.next) lines.push(`Next: ${a.next}`);
  lines.push(`Node: ${a.node}, at ${a.occurredAt.toISOString()}`);
  if (a.url) lines.push(a.url);
  return lines.join("\n");
}

function escapeSlack(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** At most `max` by `size`, cut between code points with "…" marking the cut. */
function cutTo(s: string, max: number, size: (s: string) => number): string {
  if (size(s) <= max) return s;
  const chars = Array.from(s);
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (size(`${chars.slice(0, mid).join("")}…`) <= max) lo = mid;
    else hi = mid - 1;
  }
  return `${chars.slice(0, lo).join("")}…`;
}

/**
 * A header value: controls become spaces, and non-ASCII text is sent as an RFC 2047
 * encoded word, which ntfy decodes (https://docs.ntfy.sh/publish/#message-title).
 */
function headerText(s: string): string {
  const flat = s.replace(/[\x00-\x1f\x7f]+/g, " ");
  return /^[\x20-\x7e]*$/.test(flat) ? flat : `=?UTF-8?B?${Buffer.from(flat, "utf8").toString("base64")}?=`;
}
