/** @module Config keys of an `[[ca]] type = "acme"` section. */
import { readFileSync, statSync } from "node:fs";
import { quote, type Reader } from "../../../config/reader.ts";
import type { SecretRef } from "../../../config/secret.ts";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/;

export interface AcmeConfig {
  directoryUrl: string;
  email: string | undefined;
  /** PEM file of CAs trusted for the ACME server's own HTTPS, on top of the system's. */
  caBundle: string | undefined;
  eab: { kid: string; hmacKey: SecretRef } | undefined;
}

export function parseAcmeConfig(r: Reader): AcmeConfig {
  const directoryUrl = r.string("directory_url", { required: true }) ?? "";
  if (directoryUrl && !isHttpUrl(directoryUrl)) r.problem("directory_url", `${quote(directoryUrl)} is not an http(s) URL`);
  const email = r.string("email", { pattern: /^[^@\s]+@[^@\s]+$/, patternHint: "is not an email address" });
  const caBundle = r.path("ca_bundle", { mustRead: true });
  // A bundle with no certificate in it trusts nothing extra: every HTTPS call to the CA would fail.
  if (caBundle !== undefined && holdsPemCertificate(caBundle) === false) r.problem("ca_bundle", `${caBundle} holds no PEM certificate`);
  const kid = r.string("eab_kid");
  const hmacKey = r.secret("eab_hmac_key", { required: false });
  if (kid !== undefined && hmacKey === undefined && !r.has("eab_hmac_key") && !r.has("eab_hmac_key_file") && !r.has("eab_hmac_key_env")) {
    r.problem("eab_hmac_key_file", "is required when eab_kid is set (or eab_hmac_key_env)");
  }
  if (kid === undefined && hmacKey !== undefined) r.problem("eab_kid", "is required when an EAB HMAC key is set");
  return { directoryUrl, email, caBundle, eab: kid !== undefined && hmacKey !== undefined ? { kid, hmacKey } : undefined };
}

/** Undefined when it is not a readable regular file (`mustRead` reported that); never reads a device or a FIFO. */
function holdsPemCertificate(path: string): boolean | undefined {
  try {
    if (!statSync(path).isFile()) return undefined;
    return PEM_CERTIFICATE.test(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}
