/**
 * @module What the scheduler reads of an installed certificate at every tick: serial,
 * expiry, key type and names, through the runtime's native X.509 parser. The daemon thereby never loads
 * @peculiar/x509 (about 8 MB resident); renewal children use it for everything else.
 */
import { X509Certificate } from "node:crypto";
import { canonicalIp } from "../config/names.ts";
import { RotaError } from "../errors.ts";
import { keyTypeOfObject, type KeyType } from "./keys.ts";

export interface CertSummary {
  /** Lowercase hex without a sign byte, as `verifyIssued` reports it and `openssl x509 -serial` prints it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** The certificate's key, as a config `key_type`; null for a kind rota does not issue. */
  keyType: KeyType | null;
  /** Subject alternative names as config names compare: DNS names lowercase, IP addresses canonical (names.ts). */
  names: string[];
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
    names: sanNames(cert.subjectAltName),
  };
}

const DNS_PREFIX = "DNS:";
/** OpenSSL writes IPv6 in full and uppercase here (`2001:DB8:0:0:0:0:0:1`). */
const IP_PREFIX = "IP Address:";

/** "DNS:a.example, DNS:*.b.example, IP Address:…" → the names; other kinds (email, URI) are not names rota issues for. */
function sanNames(san: string | undefined): string[] {
  const names: string[] = [];
  for (const part of (san ?? "").split(",").map((p) => p.trim())) {
    if (part.startsWith(DNS_PREFIX)) names.push(part.slice(DNS_PREFIX.length).toLowerCase());
    else if (part.startsWith(IP_PREFIX)) {
      const ip = part.slice(IP_PREFIX.length);
      names.push(canonicalIp(ip) ?? ip);
    }
  }
  return names;
}
