/** @module Config keys of an `[[alert]] type = "email"` section. */
import { isIPv6 } from "node:net";
import { quote, type Reader } from "../../../config/reader.ts";
import type { SecretRef } from "../../../config/secret.ts";
import { readCaBundle } from "../../../config/tls-keys.ts";

/** `starttls`: upgrade on the submission port or refuse to send; `implicit`: TLS from the first byte; `none`: plain text. */
export type EmailTls = "starttls" | "implicit" | "none";
export const EMAIL_TLS: readonly EmailTls[] = ["starttls", "implicit", "none"];

/** The usual port for each way of speaking TLS (RFC 6409 submission, RFC 8314 submissions, RFC 5321 relay). */
const DEFAULT_PORT: Record<EmailTls, number> = { starttls: 587, implicit: 465, none: 25 };

/**
 * One `@`, and nothing a header or an address list would read as syntax: a newline would
 * start a new header, a comma or angle bracket a new recipient.
 */
const ADDRESS = /^[^@\s<>,;:"\\()[\]]+@[^@\s<>,;:"\\()[\]]+$/;
const ADDRESS_HINT = "is not a plain email address (one @, no spaces, quotes, brackets or commas)";
/** Control characters, newlines included: any of them in a header value is an injection. */
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface EmailConfig {
  host: string;
  port: number;
  tls: EmailTls;
  /** PEM file of CAs trusted for the mail server, on top of the system's. */
  caBundle: string | undefined;
  auth: { username: string; password: SecretRef } | undefined;
  from: string;
  to: string[];
  subjectPrefix: string;
}

export function parseEmailConfig(r: Reader): EmailConfig {
  const host = r.string("host", { required: true, pattern: /^[^\s/]+$/, patternHint: "is not a host name or address" }) ?? "";
  const hostProblem = hostWithPort(host);
  if (hostProblem) r.problem("host", hostProblem);
  const tls = r.oneOf("tls", EMAIL_TLS, "starttls");
  const port = r.int("port", { min: 1, max: 65_535, fallback: DEFAULT_PORT[tls] });
  const caBundle = readCaBundle(r);
  if (caBundle !== undefined && tls === "none") r.problem("ca_bundle", `is unused with tls = "none"`);
  const from = r.string("from", { required: true, pattern: ADDRESS, patternHint: ADDRESS_HINT }) ?? "";
  const subjectPrefix = r.string("subject_prefix") ?? "[rota]";
  if (CONTROL.test(subjectPrefix)) r.problem("subject_prefix", "must not hold control characters or newlines");
  return { host, port, tls, caBundle, auth: readAuth(r), from, to: readRecipients(r), subjectPrefix };
}

/**
 * `host = "smtp.example.com:25"` reads like a URL's authority, but the host is looked up as
 * written and `port` is its own key: say where the port goes. An IPv6 address has colons
 * of its own and is written bare, as `net.connect` takes it.
 */
function hostWithPort(host: string): string | undefined {
  const withPort = /^(\[[^\]]*\]|[^:]+):(\d*)$/.exec(host);
  if (withPort) return `${quote(host)} has a port in it: give the host alone and set port${withPort[2] ? ` = ${withPort[2]}` : ""}`;
  if (host.startsWith("[")) return `${quote(host)}: write an IPv6 address without brackets`;
  if (host.includes(":") && !isIPv6(host)) return `${quote(host)} is not a host name or address`;
  return undefined;
}

function readRecipients(r: Reader): string[] {
  const list = r.stringList("to", { oneOrList: true });
  if (list === undefined) {
    if (!r.has("to")) r.problem("to", "is required (at least one address)");
    return [];
  }
  if (list.complete && list.items.length === 0) r.problem("to", "must name at least one address");
  const to: string[] = [];
  for (const item of list.items) {
    if (ADDRESS.test(item.value)) to.push(item.value);
    else r.ctx.problems.add(item.key, `${quote(item.value)} ${ADDRESS_HINT}`);
  }
  return to;
}

/** `username` and a password go together: one without the other is a config mistake, not anonymous mail. */
function readAuth(r: Reader): EmailConfig["auth"] {
  const username = r.string("username");
  const givesPassword = r.has("password") || r.has("password_file") || r.has("password_env");
  const password = r.secret("password", { required: false });
  if (username !== undefined && !givesPassword) r.problem("password_file", "is required when username is set (or password_env)");
  if (username === undefined && givesPassword && !r.has("username")) r.problem("username", "is required when a password is set");
  return username !== undefined && password !== undefined ? { username, password } : undefined;
}
