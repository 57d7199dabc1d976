/** @module Turns a PKCS#8 PEM into the WebCrypto key pair and signature algorithm @peculiar/x509 signs with. */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { RotaError } from "../errors.ts";
import { keyTypeOf, type KeyType } from "./keys.ts";

export interface SigningKeys {
  type: KeyType;
  keys: CryptoKeyPair;
  signingAlgorithm: EcdsaParams | RsaHashedImportParams;
}

/** Hash per key type: P-384 gets SHA-384 so the signature is as strong as the key; RSA stays on SHA-256 for reach. */
function algorithmsFor(type: KeyType): { importAlg: EcKeyImportParams | RsaHashedImportParams; signingAlgorithm: EcdsaParams | RsaHashedImportParams } {
  switch (type) {
    case "ecdsa-p256":
      return { importAlg: { name: "ECDSA", namedCurve: "P-256" }, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } };
    case "ecdsa-p384":
      return { importAlg: { name: "ECDSA", namedCurve: "P-384" }, signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } };
    default: {
      const rsa = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
      return { importAlg: rsa, signingAlgorithm: rsa };
    }
  }
}

/**
 * Imports `pem` for signing; the public half is derived with node:crypto because
 * WebCrypto cannot derive it from a PKCS#8 import, and it must be extractable for x509.
 * `who` prefixes the error ("csr", "local-ca").
 */
export async function importSigningKeys(pem: string, who: string): Promise<SigningKeys> {
  const type = keyTypeOf(pem);
  if (!type) throw new RotaError("key_invalid", `${who}: private key is not one of the supported key types`, { noRetry: true });
  const { importAlg, signingAlgorithm } = algorithmsFor(type);
  const privateDer = createPrivateKey(pem).export({ type: "pkcs8", format: "der" });
  const publicDer = createPublicKey(pem).export({ type: "spki", format: "der" });
  const [privateKey, publicKey] = await Promise.all([
    crypto.subtle.importKey("pkcs8", privateDer, importAlg, false, ["sign"]),
    crypto.subtle.importKey("spki", publicDer, importAlg, true, ["verify"]),
  ]);
  return { type, keys: { privateKey, publicKey }, signingAlgorithm };
}
