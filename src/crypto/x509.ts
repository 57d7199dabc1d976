/**
 * @module Lazy access to @peculiar/x509, plus the few certificate facts rota reads.
 * The library needs `reflect-metadata` evaluated first and costs ~100 ms to load, so
 * nothing on the CLI start-up path may import it statically: go through `x509()`.
 */
import type { X509Certificate } from "@peculiar/x509";
import { canonicalIp, nameKind } from "../config/names.ts";
import { RotaError } from "../errors.ts";

type X509Module = typeof import("@peculiar/x509");

let loading: Promise<X509Module> | undefined;

/** The @peculiar/x509 module, loaded once, with WebCrypto set as its provider. */
export async function x509(): Promise<X509Module> {
  loading ??= (async () => {
    await import("./reflect.ts");
    const mod = await import("@peculiar/x509");
    mod.cryptoProvider.set(globalThis.crypto);
    return mod;
  })();
  return loading;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** Each CERTIFICATE block of a PEM bundle, rewrapped at 64 columns and ending in a newline. */
export function splitPem(bundle: string): string[] {
  return [...bundle.matchAll(CERT_BLOCK)].map((m) => {
    const body = (m[1] ?? "").replace(/\s+/g, "");
    const lines = body.match(/.{1,64}/g) ?? [];
    return ["-----BEGIN CERTIFICATE-----", ...lines, "-----END CERTIFICATE-----", ""].join("\n");
  });
}

/** Parses the first certificate of `pem`; RotaError("cert_invalid") when there is none or it does not parse. */
export async function parseCert(pem: string): Promise<X509Certificate> {
  const first = splitPem(pem)[0];
  if (first === undefined) throw new RotaError("cert_invalid", "x509: no certificate in PEM", { noRetry: true });
  const lib = await x509();
  try {
    return new lib.X509Certificate(first);
  } catch (err) {
    throw new RotaError("cert_invalid", "x509: certificate does not parse", { cause: err, noRetry: true });
  }
}

/** X.520's ub-common-name: Let's Encrypt refuses a CSR with a longer CN ("CN was longer than 64 bytes"). */
const CN_MAX = 64;

/**
 * The CN of a CSR or leaf for `names`: the first host name that fits in a CN. None when
 * every name is an IP address (a CN is read as a host name) or too long; the SAN alone
 * then names the certificate, as RFC 5280 §4.2.1.6 allows.
 */
export function commonNameFor(names: string[]): string | undefined {
  return names.find((n) => nameKind(n) !== "ip" && n.length <= CN_MAX);
}

/** One subjectAltName entry for each name (names.ts): an iPAddress for an IP, else a dNSName. */
export function sanEntries(names: string[]): Array<{ type: "dns" | "ip"; value: string }> {
  // Canonical text is all hex groups: @peculiar/x509 misreads IPv6 with a dotted-quad tail (`::ffff:1.2.3.4`).
  return names.map((value) => {
    const ip = canonicalIp(value);
    return ip === undefined ? { type: "dns", value } : { type: "ip", value: ip };
  });
}
