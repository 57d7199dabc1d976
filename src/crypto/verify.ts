/**
 * @module The last gate before a certificate is persisted and installed: it must match
 * our key, cover every configured name, and chain to what the CA returned. A CA bug or
 * a mixed-up response is refused here rather than served. Read with x509-der.ts and
 * checked with node:crypto, since it runs on every renewal; @peculiar/x509 only names the
 * certificates of a chain whose names are not byte for byte the same, and checks an
 * algorithm x509-der.ts does not know.
 */
import { createPublicKey } from "node:crypto";
import type { X509Certificate } from "@peculiar/x509";
import { canonicalIp } from "../config/names.ts";
import { RotaError } from "../errors.ts";
import { parseCert, splitPem } from "./x509.ts";
import { fromPem, OID, readCertificate, sanNames, toPem, verifySignature, type CertFields } from "./x509-der.ts";

export interface VerifyArgs {
  leafPem: string;
  /** Intermediates, leaf's issuer first. At least one is required: CAs return them. */
  chainPem: string;
  privateKeyPem: string;
  /** Host names and IP addresses; each must be a SAN (an IP address as an iPAddress, in any spelling). */
  domains: string[];
  /** Defaults to the system clock; the leaf and its issuer must be valid at this instant. */
  now: Date;
}

export interface Verified {
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** A CA's clock may run ahead of ours; a certificate starting this soon is still accepted. */
const NOT_BEFORE_SKEW_MS = 10 * 60_000;

function refuse(message: string, cause?: unknown): never {
  throw new RotaError("verify_failed", `verify: ${message}`, { cause });
}

export async function verifyIssued(args: VerifyArgs): Promise<Verified> {
  const leaf = readPemCert(splitPem(args.leafPem)[0], "the CA returned no readable certificate");
  const chainBlocks = splitPem(args.chainPem);
  if (chainBlocks.length === 0) refuse("the CA returned no intermediate chain");
  const chain = chainBlocks.map((pem) => readPemCert(pem, "a chain certificate does not parse"));

  let keySpki: Buffer;
  try {
    keySpki = createPublicKey(args.privateKeyPem).export({ type: "spki", format: "der" });
  } catch (err) {
    // The cause is node's OpenSSL reason code, never key bytes.
    refuse("the private key does not parse", err);
  }
  if (!keySpki.equals(leaf.spki)) refuse("certificate does not match the private key");

  const san = leaf.extensions.get(OID.subjectAltName);
  let entries: ReturnType<typeof sanNames> = [];
  try {
    entries = san ? sanNames(san) : [];
  } catch (err) {
    refuse("the CA returned no readable certificate", err);
  }
  const sans = new Set(entries.map((n) => (n.type === "dns" ? n.value.toLowerCase() : (canonicalIp(n.value) ?? n.value))));
  for (const domain of args.domains) {
    if (!sans.has(canonicalIp(domain) ?? domain.toLowerCase())) refuse(`certificate does not cover ${domain}`);
  }

  const path = [leaf, ...chain];
  // The leaf and its issuer must be valid now: every client builds its path through both, so
  // an expired intermediate fails them as surely as an expired leaf (the old certificate still
  // serves meanwhile). Past the issuer, an expired cross-sign is one a client with the newer
  // root skips; refusing it would stop every renewal until the CA drops it (AddTrust, 2020).
  for (const [what, cert] of [["certificate", leaf], ["chain certificate 1", chain[0]!]] as const) {
    if (cert.notAfter.getTime() <= args.now.getTime()) refuse(`${what} expired at ${cert.notAfter.toISOString()}`);
    if (cert.notBefore.getTime() > args.now.getTime() + NOT_BEFORE_SKEW_MS) refuse(`${what} is not valid before ${cert.notBefore.toISOString()}`);
  }

  for (let i = 0; i + 1 < path.length; i++) {
    const child = path[i]!;
    const parent = path[i + 1]!;
    const what = i === 0 ? "certificate" : `chain certificate ${i}`;
    if (!Buffer.from(child.issuer).equals(parent.subject)) {
      // Names encoded differently (a PrintableString against a UTF8String) may still be the
      // same name: compared as @peculiar/x509 prints them, as they always were.
      const [c, p] = await viaLibrary(child, parent, i);
      if (c.issuer !== p.subject) refuse(`${what} is issued by "${c.issuer}" but the CA's chain has "${p.subject}" next`);
    }
    // An algorithm der.ts does not know (RSA-PSS, EdDSA) goes to WebCrypto, as before; a mismatch of key and algorithm is "not signed by" too.
    const signed = verifySignature(child.signatureAlgorithm, child.tbs, child.signature, parent.spki) ?? (await signedByWebCrypto(child, parent, i));
    if (!signed) {
      refuse(i === 0 ? "certificate is not signed by the chain the CA returned" : `${what} is not signed by the next one in the chain`);
    }
  }

  return { serial: leaf.serial, notBefore: leaf.notBefore, notAfter: leaf.notAfter };
}

/** The certificate of one PEM block, read by der.ts; refused with `problem` when there is none or it does not parse. */
function readPemCert(pem: string | undefined, problem: string): CertFields {
  try {
    return readCertificate(fromPem(pem ?? "", "CERTIFICATE"));
  } catch (err) {
    refuse(problem, err);
  }
}

/**
 * `child` (at `i` in the path) and `parent` as @peculiar/x509 reads them. One it cannot read
 * is refused as unreadable, as before der.ts: its own error (cert_invalid) is marked no-retry,
 * which would stop the renewal's retries over one bad answer from the CA.
 */
async function viaLibrary(child: CertFields, parent: CertFields, i: number): Promise<[X509Certificate, X509Certificate]> {
  const read = (cert: CertFields, problem: string) => parseCert(toPem(cert.der, "CERTIFICATE")).catch((err: unknown) => refuse(problem, err));
  return Promise.all([read(child, i === 0 ? "the CA returned no readable certificate" : "a chain certificate does not parse"), read(parent, "a chain certificate does not parse")]);
}

async function signedByWebCrypto(child: CertFields, parent: CertFields, i: number): Promise<boolean> {
  const [c, p] = await viaLibrary(child, parent, i);
  return c.verify({ publicKey: p, signatureOnly: true }).catch(() => false);
}
