/**
 * @module What the cert page shows of a stored certificate: issuer, subject, fingerprint
 * and chain, through the runtime's native X.509 parser like summary.ts, so the daemon
 * still never loads @peculiar/x509 for a page view.
 */
import { X509Certificate } from "node:crypto";
import { RotaError } from "../errors.ts";
import { splitPem } from "./x509.ts";

export interface CertDetails {
  /** Lowercase hex, as summary.ts reports it. */
  serial: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** Uppercase hex pairs joined by colons, as `openssl x509 -fingerprint -sha256` prints it. */
  sha256: string;
  /** The chain's subjects, leaf's issuer first. */
  chain: string[];
}

export function certDetails(leafPem: string, chainPem: string): CertDetails {
  let leaf: X509Certificate;
  let chain: X509Certificate[];
  try {
    leaf = new X509Certificate(leafPem);
    chain = splitPem(chainPem).map((p) => new X509Certificate(p));
  } catch (err) {
    throw new RotaError("cert_invalid", `x509: stored certificate does not parse: ${(err as Error).message}`, { cause: err });
  }
  return {
    serial: leaf.serialNumber.toLowerCase(),
    subject: oneLine(leaf.subject),
    issuer: oneLine(leaf.issuer),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    sha256: leaf.fingerprint256,
    chain: chain.map((c) => oneLine(c.subject)),
  };
}

/** Node writes a name one attribute a line ("C=US\nO=Let's Encrypt\nCN=R11"). */
function oneLine(name: string): string {
  return name.split("\n").filter(Boolean).join(", ");
}
