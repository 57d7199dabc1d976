/**
 * @module Builds the PKCS#10 request a CA signs: every name as a SAN (dNSName or
 * iPAddress), CN = the first DNS name.
 */
import { nameKind } from "../config/names.ts";
import { RotaError } from "../errors.ts";
import { importSigningKeys } from "./webcrypto.ts";
import { sanEntries, x509 } from "./x509.ts";

/**
 * A PEM CSR for `names` (normal form, names.ts: wildcards and IP addresses allowed) signed
 * with `keyPem` (PKCS#8). When every name is an IP address the subject is empty: a CN is read
 * as a DNS name by CAs that look at it (RFC 8555 §7.4 wants the CSR to name only the order's
 * identifiers), and pebble sets the CN itself.
 */
export async function createCsr(names: string[], keyPem: string): Promise<string> {
  if (names.length === 0) throw new RotaError("csr_invalid", "csr: no domains to request", { noRetry: true });
  const cn = names.find((n) => nameKind(n) !== "ip");
  const [lib, signing] = await Promise.all([x509(), importSigningKeys(keyPem, "csr")]);
  const csr = await lib.Pkcs10CertificateRequestGenerator.create({
    // JSON form, not "CN=…": the string parser would treat characters in a name as DN syntax.
    name: cn === undefined ? [] : [{ CN: [cn] }],
    keys: signing.keys,
    signingAlgorithm: signing.signingAlgorithm,
    extensions: [new lib.SubjectAlternativeNameExtension(sanEntries(names))],
  });
  return `${csr.toString("pem").trimEnd()}\n`;
}
