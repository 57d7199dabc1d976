/**
 * @module Signs a local-CA leaf certificate from a CSR's public key and the order's names
 * (host names and IP addresses). Built with der.ts and signed by node:crypto, not
 * @peculiar/x509: a leaf is signed on every renewal, and the library's ASN.1 object model
 * cost ten times the signature itself (issue 11).
 */
import { createPublicKey } from "node:crypto";
import { RotaError } from "../../../errors.ts";
import { explicit, implicit, octets, positiveInteger, oid, seq, smallInteger, TAG, time, tlv } from "../../../crypto/der.ts";
import { commonNameFor, sanEntries } from "../../../crypto/x509.ts";
import { algorithmIdentifier, extension, fromPem, generalNames, keyIdentifier, nameOf, OID, readCsr, signed, toPem, verifySignature, type CsrFields } from "../../../crypto/x509-der.ts";
import { addDays, BACKDATE_MS, randomSerialHex, type Signer } from "./authority.ts";

export interface LeafRequest {
  csrPem: string;
  domains: string[];
  validityDays: number;
  now: Date;
}

/** keyUsage bits (RFC 5280 §4.2.1.3), numbered from the first byte's top bit. */
const DIGITAL_SIGNATURE = 0x80;
const KEY_ENCIPHERMENT = 0x20;

/**
 * The leaf PEM for `req`, signed by `issuer`. The CSR's signature is checked (proof the
 * requester holds the key); its subject and SANs are not used: the order's names are.
 */
export async function signLeaf(issuer: Signer, req: LeafRequest): Promise<string> {
  if (req.domains.length === 0) throw new RotaError("bad_order", "local-ca: order has no domains", { noRetry: true });
  let csr: CsrFields;
  let keyId: Uint8Array;
  try {
    csr = readCsr(fromPem(req.csrPem, "CERTIFICATE REQUEST"));
    keyId = keyIdentifier(csr.spki);
  } catch (err) {
    throw new RotaError("csr_invalid", "local-ca: CSR does not parse", { cause: err, noRetry: true });
  }
  // rota's own CSRs (csr.ts) are ECDSA or RSA PKCS#1 v1.5: an algorithm outside those is not one of ours.
  if (verifySignature(csr.signatureAlgorithm, csr.info, csr.signature, csr.spki) !== true) throw new RotaError("csr_invalid", "local-ca: CSR signature invalid", { noRetry: true });

  // RSA keys may do key transport (TLS 1.2 RSA kx); EC keys only sign.
  const rsa = createPublicKey({ key: Buffer.from(csr.spki), format: "der", type: "spki" }).asymmetricKeyType === "rsa";
  const notBefore = new Date(req.now.getTime() - BACKDATE_MS);
  const wanted = addDays(notBefore, req.validityDays);
  // Past the intermediate's expiry the chain no longer validates; the leaf is renewed before then.
  const notAfter = wanted < issuer.cert.notAfter ? wanted : issuer.cert.notAfter;
  // CN = the first DNS name that fits in one. With IP addresses only (or names too long) the
  // subject is empty, as Let's Encrypt issues them, and the SAN is then critical (RFC 5280 §4.2.1.6).
  const cn = commonNameFor(req.domains);

  const tbs = seq(
    explicit(0, smallInteger(2)),
    positiveInteger(Buffer.from(randomSerialHex(), "hex")),
    algorithmIdentifier(issuer.type),
    issuer.cert.subject,
    seq(time(notBefore), time(notAfter)),
    nameOf(cn),
    csr.spki,
    explicit(
      3,
      seq(
        extension(OID.basicConstraints, true, seq()),
        extension(OID.keyUsage, true, keyUsage(DIGITAL_SIGNATURE | (rsa ? KEY_ENCIPHERMENT : 0))),
        extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
        extension(OID.subjectAltName, cn === undefined, generalNames(sanEntries(req.domains))),
        extension(OID.subjectKeyId, false, octets(keyId)),
        extension(OID.authorityKeyId, false, seq(implicit(0, issuer.keyId))),
      ),
    ),
  );
  return toPem(signed(tbs, issuer.key, issuer.type), "CERTIFICATE");
}

/** A one-byte keyUsage BIT STRING, its unused trailing bits counted as DER wants them. */
function keyUsage(flags: number): Uint8Array {
  let unused = 0;
  while (unused < 7 && (flags & (1 << unused)) === 0) unused++;
  return tlv(TAG.bitString, Uint8Array.of(unused, flags));
}
