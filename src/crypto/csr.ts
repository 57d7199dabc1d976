/** @module Builds the PKCS#10 request a CA signs: CN = first domain, every domain as a SAN dNSName. */
import { RotaError } from "../errors.ts";
import { importSigningKeys } from "./webcrypto.ts";
import { x509 } from "./x509.ts";

/** A PEM CSR for `domains` (wildcards allowed) signed with `keyPem` (PKCS#8). */
export async function createCsr(domains: string[], keyPem: string): Promise<string> {
  const first = domains[0];
  if (first === undefined) throw new RotaError("csr_invalid", "csr: no domains to request", { noRetry: true });
  const [lib, signing] = await Promise.all([x509(), importSigningKeys(keyPem, "csr")]);
  const csr = await lib.Pkcs10CertificateRequestGenerator.create({
    // JSON form, not "CN=…": the string parser would treat characters in a name as DN syntax.
    name: [{ CN: [first] }],
    keys: signing.keys,
    signingAlgorithm: signing.signingAlgorithm,
    extensions: [new lib.SubjectAlternativeNameExtension(domains.map((value) => ({ type: "dns" as const, value })))],
  });
  return `${csr.toString("pem").trimEnd()}\n`;
}
