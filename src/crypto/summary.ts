/**
 * @module What the scheduler reads of an installed certificate at every tick: serial,
 * expiry, key type and names, through the runtime's native X.509 parser. The daemon thereby never loads
 * @peculiar/x509 (about 8 MB resident); renewal children use it for everything else.
 */
import { X509Certificate } from "node:crypto";
import { RotaError } from "../errors.ts";
import { keyTypeOfObject, type KeyType } from "./keys.ts";

export interface CertSummary {
  /** Lowercase hex without a sign byte, as `verifyIssued` reports it and `openssl x509 -serial` prints it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** The certificate's key, as a config `key_type`; null for a kind rota does not issue. */
  keyType: KeyType | null;
  /** Subject alternative DNS names, lowercase. */
  dnsNames: string[];
}

export function summarizeCert(pem: string): CertSummary {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new RotaError("cert_invalid", `x509: not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  return {
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    keyType: keyTypeOfObject(cert.publicKey),
    dnsNames: dnsNames(cert.subjectAltName),
  };
}

/** "DNS:a.example, DNS:*.b.example, IP Address:…" → the DNS names. */
function dnsNames(san: string | undefined): string[] {
  return (san ?? "")
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("DNS:"))
    .map((part) => part.slice(4).toLowerCase());
}
