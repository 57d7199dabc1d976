/** @module Config keys of an `[[alert]] type = "webhook"` section (its own keys; the common ones are the alert reader's). */
import { cut, type Reader } from "../../../config/reader.ts";
import type { SecretRef } from "../../../config/secret.ts";
import { readCaBundle, readHttpUrl } from "../../../config/tls-keys.ts";
import { WEBHOOK_FORMATS, type WebhookFormat } from "./formats.ts";

/** RFC 9110 §5.6.2: a header name is a token. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** CR, LF and NUL would split or end the header (request smuggling); other controls are refused by HTTP too. */
const HEADER_VALUE_BAD = /[\x00-\x08\x0a-\x1f\x7f]/;
/**
 * Names rota sets itself (the body's type, the bearer token, its signature and delivery id)
 * or the HTTP client owns (framing, the connection); a static header must not replace them.
 */
const RESERVED = new Set(["authorization", "content-type", "content-length", "transfer-encoding", "host", "connection"]);

export const WEBHOOK_METHODS = ["POST", "PUT"] as const;

export interface WebhookConfig {
  url: string;
  method: (typeof WEBHOOK_METHODS)[number];
  timeoutSeconds: number;
  /** Static headers, sent as given on every request. */
  headers: Record<string, string>;
  /** Sent as `Authorization: Bearer <token>`. */
  bearerToken: SecretRef | undefined;
  /** Signs each body (`X-Rota-Signature`). */
  secret: SecretRef | undefined;
  /** PEM file of CAs trusted for the receiver's HTTPS, on top of the system's. */
  caBundle: string | undefined;
  format: WebhookFormat;
}

export function parseWebhookConfig(r: Reader): WebhookConfig {
  const url = readHttpUrl(r, "url");
  const caBundle = readCaBundle(r);
  return {
    url,
    method: r.oneOf("method", WEBHOOK_METHODS, "POST"),
    timeoutSeconds: r.int("timeout_seconds", { min: 1, max: 120, fallback: 10 }),
    headers: readHeaders(r.child("headers")),
    bearerToken: r.secret("bearer_token", { required: false }),
    secret: r.secret("secret", { required: false }),
    caBundle,
    format: r.oneOf("format", WEBHOOK_FORMATS, "json"),
  };
}

function readHeaders(r: Reader): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of r.keys()) {
    const value = r.string(name);
    if (!HEADER_NAME.test(name)) {
      r.problem(cut(name), "is not a valid header name");
    } else if (name.toLowerCase() === "authorization") {
      r.problem(name, "is not accepted here: the token would sit in the config; use bearer_token_file or bearer_token_env");
    } else if (RESERVED.has(name.toLowerCase()) || name.toLowerCase().startsWith("x-rota-")) {
      r.problem(name, "is set by rota itself");
    } else if (value !== undefined && HEADER_VALUE_BAD.test(value)) {
      r.problem(name, "must not hold a line break or another control character");
    } else if (value !== undefined) {
      headers[name] = value;
    }
  }
  return headers;
}
