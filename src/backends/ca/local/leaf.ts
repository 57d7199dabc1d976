/** @module Signs a local-CA leaf certificate from a CSR's public key and the order's names (host names and IP addresses). */
import { createPublicKey } from "node:crypto";
import type { Pkcs10CertificateRequest } from "@peculiar/x509";
import { RotaError } from "../../../errors.ts";
import { nameKind } from "../../../config/names.ts";
import { sanEntries, x509 } from "../../../crypto/x509.ts";
import { addDays, BACKDATE_MS, pemOf, randomSerialHex, type Signer } from "./authority.ts";

export interface LeafRequest {
  csrPem: string;
  domains: string[];
  validityDays: number;
  now: Date;
}

/**
 * The leaf PEM for `req`, signed by `issuer`. The CSR's signature is checked (proof the
 * requester holds the key); its subject and SANs are not used: the order's names are.
 */
export async function signLeaf(issuer: Signer, req: LeafRequest): Promise<string> {
  if (req.domains.length === 0) throw new RotaError("bad_order", "local-ca: order has no domains", { noRetry: true });
  const lib = await x509();
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new lib.Pkcs10CertificateRequest(req.csrPem);
  } catch (err) {
    throw new RotaError("csr_invalid", "local-ca: CSR does not parse", { cause: err, noRetry: true });
  }
  if (!(await csr.verify().catch(() => false))) throw new RotaError("csr_invalid", "local-ca: CSR signature invalid", { noRetry: true });

  const spki = Buffer.from(csr.publicKey.rawData);
  // RSA keys may do key transport (TLS 1.2 RSA kx); EC keys only sign.
  const rsa = createPublicKey({ key: spki, format: "der", type: "spki" }).asymmetricKeyType === "rsa";
  const usage = lib.KeyUsageFlags.digitalSignature | (rsa ? lib.KeyUsageFlags.keyEncipherment : 0);
  const notBefore = new Date(req.now.getTime() - BACKDATE_MS);
  const wanted = addDays(notBefore, req.validityDays);
  // CN = the first DNS name. With IP addresses only the subject is empty, as Let's Encrypt
  // issues them, and the SAN is then critical (RFC 5280 §4.2.1.6).
  const cn = req.domains.find((n) => nameKind(n) !== "ip");

  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: cn === undefined ? [] : [{ CN: [cn] }],
    issuer: issuer.cert.subjectName,
    notBefore,
    // Past the intermediate's expiry the chain no longer validates; the leaf is renewed before then.
    notAfter: wanted < issuer.cert.notAfter ? wanted : issuer.cert.notAfter,
    publicKey: csr.publicKey,
    signingKey: issuer.signing.keys.privateKey,
    signingAlgorithm: issuer.signing.signingAlgorithm,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(usage, true),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth]),
      new lib.SubjectAlternativeNameExtension(sanEntries(req.domains), cn === undefined),
      await lib.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await lib.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey),
    ],
  });
  return pemOf(cert);
}
