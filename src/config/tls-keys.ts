/** @module Keys several backends share: an http(s) URL, and a `ca_bundle` to trust a private server's TLS. */
import { readFileSync, statSync } from "node:fs";
import { quote, type Reader } from "./reader.ts";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/;

/** The URL at `k` when it is http or https (a problem otherwise); "" when missing (already reported when required). */
export function readHttpUrl(r: Reader, k: string): string {
  const url = r.string(k, { required: true }) ?? "";
  if (url && !isHttpUrl(url)) r.problem(k, `${quote(url)} is not an http(s) URL`);
  return url;
}

/**
 * `ca_bundle`: a readable file with at least one PEM certificate. A bundle with none trusts
 * nothing extra, so every call to the server it is for would fail.
 */
export function readCaBundle(r: Reader): string | undefined {
  const path = r.path("ca_bundle", { mustRead: true });
  if (path !== undefined && holdsPemCertificate(path) === false) r.problem("ca_bundle", `${path} holds no PEM certificate`);
  return path;
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
