/**
 * @module The email alert sink: one SMTP delivery per `send` through nodemailer, loaded on
 * the first send so a daemon without mail never pays for it. TLS is what the config says
 * or nothing is sent: `starttls` refuses a server that does not offer it rather than fall
 * back to plain text.
 */
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import type { NodemailerError } from "nodemailer/lib/errors";
import type { SMTPTransportOptions } from "nodemailer/lib/smtp-transport";
import { readSecret } from "../../../config/secret.ts";
import { describeError, RotaError, throwIfAborted } from "../../../errors.ts";
import type { BackendContext } from "../../context.ts";
import { PARTLY_DELIVERED, type Alert, type AlertBackend, type Checkable } from "../../types.ts";
import type { EmailConfig } from "./config.ts";
import { renderEmail } from "./message.ts";
import { addSession, NO_ONE, tallyProblem, type SessionReply, type Tally } from "./recipients.ts";

/**
 * Each wait is bounded on its own so a server that accepts and then stalls fails the attempt
 * even without a daemon timeout; the caller's signal usually ends it sooner.
 */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000, dnsTimeout: 10_000 };

/** The server's chain ends at a CA nobody trusts: what `ca_bundle` is for. */
const UNTRUSTED_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_UNTRUSTED",
]);
/** Certificate checks that fail the same way on every retry (as in the ACME transport). */
const TLS_VERIFY_CODES = new Set([...UNTRUSTED_CODES, "CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID"]);

let nodemailer: Promise<typeof import("nodemailer")> | undefined;

/** Deliveries with recipients still deferred, at most. */
const MAX_TALLIES = 64;

export function createEmailAlert(name: string, cfg: EmailConfig, ctx: BackendContext): AlertBackend & Checkable {
  /** Who has each alert so far, by alert id, while a retry may follow. */
  const tallies = new Map<string, Tally>();
  return {
    name,
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkEmail(name, cfg, signal, checkCtx);
    },
    async send(alert: Alert, signal: AbortSignal): Promise<void> {
      throwIfAborted(signal, name);
      const mailer = await (nodemailer ??= import("nodemailer"));
      const password = readPassword(name, cfg);
      const transport = mailer.createTransport(transportOptions(cfg, password));
      const message = renderEmail(alert, cfg.subjectPrefix);
      const before = tallies.get(alert.id) ?? NO_ONE;
      let reply: SessionReply;
      try {
        const info = await transport.sendMail({
          from: cfg.from,
          // A retry goes only to those who asked to be tried later.
          to: before === NO_ONE ? cfg.to : before.deferred.map((r) => r.address),
          subject: message.subject,
          text: message.text,
          html: message.html,
          date: ctx.clock.now(),
          headers: { "X-Rota-Event": alert.type, "X-Rota-Delivery": alert.id },
          signal,
        });
        reply = { accepted: info.accepted.map(String), rejected: info.rejectedErrors ?? [] };
      } catch (err) {
        const e = err as NodemailerError;
        // Every recipient refused: nodemailer throws, with the same per-recipient replies.
        if (e.code === "EENVELOPE" && e.command === "RCPT TO" && e.rejectedErrors?.length) reply = { accepted: [], rejected: e.rejectedErrors };
        else throw smtpError(name, cfg, err, signal, password);
      } finally {
        transport.close();
      }
      const tally = addSession(before, reply);
      tallies.delete(alert.id);
      if (tally.deferred.length > 0) remember(alert.id, tally);
      const problem = tallyProblem(tally);
      if (problem === null) return;
      const code = tally.delivered.length > 0 ? PARTLY_DELIVERED : "smtp_rejected";
      throw new RotaError(code, scrub(`${name}: ${cfg.host}:${cfg.port}: ${problem}`, password), { noRetry: tally.deferred.length === 0 });
    },
  };

  /** Kept while a retry may follow; a delivery the daemon gave up on leaves its tally, so only the newest few are kept. */
  function remember(id: string, tally: Tally): void {
    tallies.set(id, tally);
    for (const old of tallies.keys()) {
      if (tallies.size <= MAX_TALLIES) break;
      tallies.delete(old);
    }
  }
}

/**
 * Read at each send, so a rotated password is used without a reload. A file gone or emptied,
 * a variable unset, fails the same way on every retry: not retried, and named by its key.
 */
export function readPassword(name: string, cfg: EmailConfig): string | undefined {
  if (!cfg.auth) return undefined;
  const ref = cfg.auth.password;
  const key = ref.from === "file" ? "password_file" : "password_env";
  const fail = (what: string, cause?: unknown) => new RotaError("smtp_password", `${name}: ${cfg.host}:${cfg.port}: ${key}: ${what}`, { noRetry: true, cause });
  let value: string;
  try {
    value = readSecret(ref);
  } catch (err) {
    throw fail(`cannot read it: ${describeError(err)}`, err);
  }
  if (value === "") throw fail(ref.from === "file" ? `${ref.path} is empty` : `environment variable ${ref.name} is not set`);
  return value;
}

export function transportOptions(cfg: EmailConfig, password: string | undefined): SMTPTransportOptions {
  return {
    host: cfg.host,
    port: cfg.port,
    secure: cfg.tls === "implicit",
    requireTLS: cfg.tls === "starttls",
    ignoreTLS: cfg.tls === "none",
    auth: cfg.auth && password !== undefined ? { user: cfg.auth.username, pass: password } : undefined,
    // `ca` replaces Node's trust store: keep the public roots beside the private one.
    tls: cfg.caBundle ? { ca: [...rootCertificates, readFileSync(cfg.caBundle, "utf8")] } : undefined,
    // An alert has no attachments; nothing in one may make the daemon read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
    ...TIMEOUTS,
  };
}

/**
 * The failure as a RotaError: refused for good (bad login, a 5xx such as a rejected recipient,
 * TLS the server cannot give) is `noRetry`; a 4xx, a dropped connection or a timeout may heal.
 * The message carries the server's reply and never the password, even if a server echoes it.
 * `unreached` names the outcome when no server answered: a send's "not delivered", a check's
 * "no SMTP session".
 */
export function smtpError(name: string, cfg: EmailConfig, err: unknown, signal: AbortSignal, password: string | undefined, unreached = "not delivered"): RotaError {
  const e = err as NodemailerError;
  if (signal.aborted || e.code === "EABORT") return new RotaError("aborted", `${name}: cancelled`, { cause: signal.reason });
  const where = `${cfg.host}:${cfg.port}`;
  const reply = e.response && !describeError(err).includes(e.response) ? ` (server said: ${e.response})` : "";
  const tlsCode = e.code && TLS_VERIFY_CODES.has(e.code) ? e.code : e.originalCode && TLS_VERIFY_CODES.has(e.originalCode) ? e.originalCode : undefined;
  const [code, what, noRetry, hint] =
    e.code === "EAUTH" || e.code === "ENOAUTH"
      ? ["smtp_auth", "login refused", true, ""]
      : tlsCode !== undefined
        ? ["smtp_tls", "TLS failed", true, ` (${tlsCode}${UNTRUSTED_CODES.has(tlsCode) ? "; trust a private CA with ca_bundle" : ""})`]
        : e.code === "ETLS"
          ? ["smtp_tls", "TLS failed", true, ` (tls = "${cfg.tls}" never falls back to plain text)`]
          : e.responseCode !== undefined
            ? ["smtp_rejected", `refused (${e.responseCode})`, e.permanent ?? e.responseCode >= 500, ""]
            : ["smtp_failed", unreached, false, ""];
  const raw = `${name}: ${where}: ${what}: ${describeError(err)}${reply}${hint}`;
  const message = scrub(raw, password);
  // A cause whose text held the password would leak it through describeError: keep only clean ones.
  return new RotaError(code, message, { noRetry, cause: message === raw ? err : undefined });
}

function scrub(text: string, password: string | undefined): string {
  if (!password) return text;
  let out = text;
  for (const form of [password, Buffer.from(password).toString("base64")]) out = out.split(form).join("[redacted]");
  return out;
}
