/** @module Config keys of an `[[ca]] type = "acme"` section. */
import type { Reader } from "../../../config/reader.ts";
import type { SecretRef } from "../../../config/secret.ts";
import { readCaBundle, readHttpUrl } from "../../../config/tls-keys.ts";

export interface AcmeConfig {
  directoryUrl: string;
  email: string | undefined;
  /** PEM file of CAs trusted for the ACME server's own HTTPS, on top of the system's. */
  caBundle: string | undefined;
  eab: { kid: string; hmacKey: SecretRef } | undefined;
}

export function parseAcmeConfig(r: Reader): AcmeConfig {
  const directoryUrl = readHttpUrl(r, "directory_url");
  const email = r.string("email", { pattern: /^[^@\s]+@[^@\s]+$/, patternHint: "is not an email address" });
  const caBundle = readCaBundle(r);
  const kid = r.string("eab_kid");
  const hmacKey = r.secret("eab_hmac_key", { required: false });
  if (kid !== undefined && hmacKey === undefined && !r.has("eab_hmac_key") && !r.has("eab_hmac_key_file") && !r.has("eab_hmac_key_env")) {
    r.problem("eab_hmac_key_file", "is required when eab_kid is set (or eab_hmac_key_env)");
  }
  if (kid === undefined && hmacKey !== undefined) r.problem("eab_kid", "is required when an EAB HMAC key is set");
  return { directoryUrl, email, caBundle, eab: kid !== undefined && hmacKey !== undefined ? { kid, hmacKey } : undefined };
}

/** An ACME profile name (draft-ietf-acme-profiles): the CA's directory lists the ones it offers. */
const PROFILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The `[[cert]]` keys an ACME CA reads for one certificate. */
export interface AcmeCertOptions {
  /** Sent in every newOrder when the directory offers it; the renewal fails without retry otherwise. */
  profile: string | undefined;
}

export const ACME_CERT_KEYS = ["profile"] as const;

/** `acme le: profile "tlsserver" is not offered; the CA offers: classic, shortlived` (or `… offers no profiles`). */
export function profileNotOffered(who: string, profile: string, offered: string[]): string {
  return `${who}: profile "${profile}" is not offered; ${offered.length > 0 ? `the CA offers: ${offered.join(", ")}` : "the CA offers no profiles"}`;
}

export function parseAcmeCertOptions(r: Reader): AcmeCertOptions {
  return { profile: r.string("profile", { pattern: PROFILE, patternHint: "must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}" }) };
}
