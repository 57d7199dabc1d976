/**
 * @module WebhookAlert: one HTTP request per `send`, its outcome classified for the daemon's
 * retries (connection error, timeout, 5xx and 429 retry; other replies are final). The URL's
 * path and query are never shown: Slack and Discord put their token there, and an ntfy
 * topic is its own password. Redirects are not followed, so a bearer token never reaches
 * a host the config does not name.
 */
import { readFileSync } from "node:fs";
import { VERSION } from "../../../cli/version.ts";
import { readSecret, type SecretRef } from "../../../config/secret.ts";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { parseRetryAfter } from "../../../retry-after.ts";
import type { BackendContext } from "../../context.ts";
import type { AlertBackend, Checkable } from "../../types.ts";
import type { WebhookConfig } from "./config.ts";
import { render } from "./formats.ts";
import { SIGNATURE_HEADER, sign } from "./sign.ts";

/** How much of a refusal's body an error quotes: enough for "channel_not_found" or a JSON error, not a web page. */
const EXCERPT_CHARS = 200;
/** Never read more of a reply than this, whatever the receiver sends. */
const EXCERPT_READ_BYTES = 4096;

/** TLS verification failures do not heal by retrying (as in the ACME transport). */
const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_UNTRUSTED",
]);

export function createWebhookAlert(name: string, cfg: WebhookConfig, ctx: BackendContext): AlertBackend & Checkable {
  const who = `webhook ${name}`;
  const target = new URL(cfg.url);
  const where = target.origin;
  const ca = cfg.caBundle === undefined ? undefined : readBundle(cfg.caBundle, who);

  return {
    name,
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkWebhook(who, cfg, ca, ctx.clock, signal, checkCtx);
    },
    async send(alert, signal) {
      throwIfAborted(signal, who);
      const token = cfg.bearerToken && secretValue(cfg.bearerToken, "bearer_token", who);
      const secret = cfg.secret && secretValue(cfg.secret, "secret", who);
      const { body, headers: formatHeaders } = render(alert, cfg.format);
      const headers: Record<string, string> = {
        "User-Agent": `rota/${VERSION}`,
        ...cfg.headers,
        ...formatHeaders,
        "X-Rota-Event": alert.type,
        "X-Rota-Delivery": alert.id,
      };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (secret) headers[SIGNATURE_HEADER] = sign(secret, body, ctx.clock.now());
      const hidden = [token, secret, target.pathname.length > 1 ? target.pathname : undefined, target.search || undefined];
      const clean = (s: string) => redact(s, hidden);

      const timer = new AbortController();
      const cancelTimer = ctx.clock.setTimeout(() => timer.abort(), cfg.timeoutSeconds * 1000);
      const aborted = () => new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason });
      const stopped = (err: unknown): RotaError | undefined => {
        if (signal.aborted) return aborted();
        if (timer.signal.aborted) return new RotaError("timeout", `${who}: ${where}: no reply within ${cfg.timeoutSeconds} s`, { cause: err });
        return undefined;
      };
      try {
        let res: Response;
        try {
          res = await fetch(target, {
            method: cfg.method,
            headers,
            body,
            redirect: "manual",
            signal: AbortSignal.any([signal, timer.signal]),
            ...(ca === undefined ? {} : { tls: { ca } }),
          });
        } catch (err) {
          throw stopped(err) ?? networkError(err, `${who}: ${where}`, clean);
        }
        if (res.ok) {
          await res.body?.cancel().catch(() => {});
          return;
        }
        const excerpt = clean(await readExcerpt(res));
        if (signal.aborted) throw aborted();
        throw statusError(res, `${who}: ${where}: HTTP ${res.status}${excerpt ? `: ${excerpt}` : ""}`, ctx.clock.now());
      } finally {
        cancelTimer();
      }
    },
  };
}

function statusError(res: Response, message: string, now: Date): RotaError {
  const retryAfterSeconds = parseRetryAfter(res.headers.get("retry-after") ?? undefined, now);
  if (res.status === 429) return new RotaError("rate_limited", message, { retryAfterSeconds });
  if (res.status >= 500) return new RotaError("unavailable", message, { retryAfterSeconds });
  if (res.status >= 300 && res.status < 400) {
    return new RotaError("redirect", `${message} (redirects are not followed; set url to where it points)`, { noRetry: true });
  }
  // The receiver understood the request and said no: the same request would get the same answer.
  return new RotaError("refused", message, { noRetry: true });
}

export function networkError(err: unknown, prefix: string, clean: (s: string) => string): RotaError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  const msg = clean(typeof e.message === "string" && e.message ? e.message : String(err));
  // Not chained as the cause: Bun's fetch error carries the whole URL, token and all, in `path`.
  return new RotaError("network", `${prefix}: ${msg}${code && !msg.includes(code) ? ` (${code})` : ""}`, {
    noRetry: code !== undefined && TLS_CODES.has(code),
  });
}

/** The start of a reply's body on one line, read no further than needed; empty when it cannot be read. */
async function readExcerpt(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < EXCERPT_READ_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A reply cut short still has its status; the excerpt is what arrived.
  } finally {
    await reader.cancel().catch(() => {});
  }
  const text = new TextDecoder().decode(Buffer.concat(chunks).subarray(0, EXCERPT_READ_BYTES)).replace(/\s+/g, " ").trim();
  const chars = Array.from(text);
  return chars.length <= EXCERPT_CHARS ? text : `${chars.slice(0, EXCERPT_CHARS - 1).join("")}…`;
}

/** A receiver may echo the request: whatever it sends back, the token, the secret and the URL's path stay out of the message. */
export function redact(s: string, hidden: (string | undefined)[]): string {
  let out = s;
  for (const h of hidden) if (h) out = out.split(h).join("[redacted]");
  return out;
}

export function secretValue(ref: SecretRef, key: string, who: string): string {
  let value: string;
  try {
    value = readSecret(ref);
  } catch (err) {
    const path = ref.from === "file" ? ref.path : ref.name;
    throw new RotaError("secret", `${who}: cannot read ${key} from ${path}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`, { cause: err, noRetry: true });
  }
  if (value === "") {
    const where = ref.from === "file" ? `file ${ref.path}` : `environment variable ${ref.name}`;
    throw new RotaError("secret", `${who}: ${key}: ${where} is empty`, { noRetry: true });
  }
  return value;
}

function readBundle(path: string, who: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new RotaError("ca_bundle", `${who}: cannot read ca_bundle ${path}: ${(err as Error).message}`, { cause: err, noRetry: true });
  }
}
