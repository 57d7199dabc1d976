/**
 * @module What the scheduler reads of an installed certificate at every tick: serial and
 * expiry, through the runtime's native X.509 parser. The daemon thereby never loads
 * @peculiar/x509 (about 8 MB resident); renewal children use it for everything else.
 */
import { X509Certificate } from "node:crypto";
import { RotaError } from "../errors.ts";

export interface CertSummary {
  /** Lowercase hex, as `certInfo` in x509.ts gives it. */
  serial: string;
  notAfter: Date;
}

export function summarizeCert(pem: string): CertSummary {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new RotaError("cert_invalid", `x509: not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  return { serial: cert.serialNumber.toLowerCase(), notAfter: new Date(cert.validTo) };
}
