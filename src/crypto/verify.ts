/**
 * @module The last gate before a certificate is persisted and installed: it must match
 * our key, cover every configured name, and chain to what the CA returned. A CA bug or
 * a mixed-up response is refused here rather than served.
 */
import { createPublicKey } from "node:crypto";
import { canonicalIp } from "../config/names.ts";
import { RotaError } from "../errors.ts";
import { parseCert, sanNamesOf, splitPem } from "./x509.ts";

export interface VerifyArgs {
  leafPem: string;
  /** Intermediates, leaf's issuer first. At least one is required: CAs return them. */
  chainPem: string;
  privateKeyPem: string;
  /** Host names and IP addresses; each must be a SAN (an IP address as an iPAddress, in any spelling). */
  domains: string[];
  /** Defaults to the system clock; the leaf must be valid at this instant. */
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
  const leaf = await parseCert(args.leafPem).catch((err: unknown) => refuse("the CA returned no readable certificate", err));
  const chainBlocks = splitPem(args.chainPem);
  if (chainBlocks.length === 0) refuse("the CA returned no intermediate chain");
  const chain = await Promise.all(
    chainBlocks.map((pem) => parseCert(pem).catch((err: unknown) => refuse("a chain certificate does not parse", err))),
  );

  let keySpki: Buffer;
  try {
    keySpki = createPublicKey(args.privateKeyPem).export({ type: "spki", format: "der" });
  } catch (err) {
    // The cause is node's OpenSSL reason code, never key bytes.
    refuse("the private key does not parse", err);
  }
  if (!keySpki.equals(Buffer.from(leaf.publicKey.rawData))) refuse("certificate does not match the private key");

  const sans = new Set(await sanNamesOf(leaf));
  for (const domain of args.domains) {
    if (!sans.has(canonicalIp(domain) ?? domain.toLowerCase())) refuse(`certificate does not cover ${domain}`);
  }

  const { now } = args;
  if (leaf.notAfter.getTime() <= now.getTime()) refuse(`certificate expired at ${leaf.notAfter.toISOString()}`);
  if (leaf.notBefore.getTime() > now.getTime() + NOT_BEFORE_SKEW_MS) {
    refuse(`certificate is not valid before ${leaf.notBefore.toISOString()}`);
  }

  const path = [leaf, ...chain];
  for (let i = 0; i + 1 < path.length; i++) {
    const child = path[i]!;
    const parent = path[i + 1]!;
    const what = i === 0 ? "certificate" : `chain certificate ${i}`;
    if (child.issuer !== parent.subject) {
      refuse(`${what} is issued by "${child.issuer}" but the CA's chain has "${parent.subject}" next`);
    }
    // A key/signature algorithm mismatch makes WebCrypto throw; that is "not signed by" too.
    const signed = await child.verify({ publicKey: parent, signatureOnly: true }).catch(() => false);
    if (!signed) {
      refuse(i === 0 ? "certificate is not signed by the chain the CA returned" : `${what} is not signed by the next one in the chain`);
    }
  }

  return { serial: leaf.serialNumber.toLowerCase(), notBefore: leaf.notBefore, notAfter: leaf.notAfter };
}
