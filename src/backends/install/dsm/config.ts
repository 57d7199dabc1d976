/** @module Config keys of an `[[install]] type = "dsm"` section (issue 14; docs/dsm.md). */
import { hostname } from "node:os";
import { quote, type Reader } from "../../../config/reader.ts";
import { isLoopback } from "../../../config/http.ts";
import type { SecretRef } from "../../../config/secret.ts";
import { readCaBundle } from "../../../config/tls-keys.ts";

export interface DsmConfig {
  /** The DSM origin (`https://nas.example.com:5001`), no trailing slash; `http://` only to a loopback host. */
  url: string;
  username: string;
  password: SecretRef | undefined;
  /** The entry's `desc`: how rota finds it, and what it names a created one. */
  description: string | undefined;
  /** Exactly this entry, never created. */
  certificateId: string | undefined;
  /** Create an entry when none has `description`. */
  create: boolean;
  /** Import as DSM's default certificate even when the entry was not. */
  makeDefault: boolean;
  /** What DSM lists the device token under (Personal › Security › Trusted devices). */
  deviceName: string;
  caBundle: string | undefined;
  tlsServerName: string | undefined;
  insecureSkipVerify: boolean;
  timeoutSeconds: number;
}

/** DSM certificate ids are short random strings ("AbC123"); anything else is a typo. */
const CERTIFICATE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function parseDsmConfig(r: Reader): DsmConfig {
  const url = readUrl(r);
  const username = r.string("username", { required: true }) ?? "";
  const password = r.secret("password", { required: true });
  const certificateId = r.string("certificate_id", { pattern: CERTIFICATE_ID, patternHint: "is not a DSM certificate id (letters, digits, - and _)" });
  const description = r.string("description", { maxLength: 255 });
  if (description === undefined && certificateId === undefined && !r.has("description")) {
    r.problem("description", "is required unless certificate_id is set: it is how rota finds its certificate in DSM");
  }
  const create = r.bool("create", true);
  const makeDefault = r.bool("make_default", false);
  const deviceName = r.string("device_name", { maxLength: 64 }) ?? `rota-${hostname()}`;
  const caBundle = readCaBundle(r);
  const tlsServerName = r.string("tls_server_name");
  const insecureSkipVerify = r.bool("insecure_skip_verify", false);
  if (insecureSkipVerify && caBundle !== undefined) r.problem("insecure_skip_verify", "give ca_bundle or insecure_skip_verify = true, not both");
  if (url.startsWith("http:") && (caBundle !== undefined || tlsServerName !== undefined || insecureSkipVerify)) {
    r.problem("url", `${quote(url)} is plain http, so ca_bundle, tls_server_name and insecure_skip_verify do not apply`);
  }
  const timeoutSeconds = r.int("timeout_seconds", { min: 1, max: 300, fallback: 30 });
  return { url, username, password, description, certificateId, create, makeDefault, deviceName, caBundle, tlsServerName, insecureSkipVerify, timeoutSeconds };
}

/** An origin: the session id travels in every request, so plain http must not leave the machine. */
function readUrl(r: Reader): string {
  const text = r.string("url", { required: true });
  if (text === undefined) return "";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    r.problem("url", `${quote(text)} is not a URL (e.g. https://nas.example.com:5001)`);
    return "";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    r.problem("url", `${quote(text)} must be an http:// or https:// URL`);
    return "";
  }
  if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "")) {
    r.problem("url", `${quote(text)} must be DSM's origin only (scheme, host, port), with no path, user or query`);
    return "";
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (url.protocol === "http:" && !isLoopback(host) && host !== "localhost") {
    r.problem("url", `${quote(text)} is plain http to another machine, where the password and session would cross the network in clear; use https://${url.hostname}:5001`);
  }
  return url.origin;
}
