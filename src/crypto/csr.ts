/**
 * @module Builds the PKCS#10 request a CA signs: every name as a SAN (dNSName or
 * iPAddress), CN = the first DNS name that fits in one. Written with der.ts and signed by node:crypto:
 * it runs on every renewal (issue 11).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { RotaError } from "../errors.ts";
import { explicit, oid, seq, set, smallInteger } from "./der.ts";
import { keyTypeOfObject } from "./keys.ts";
import { commonNameFor, sanEntries } from "./x509.ts";
import { extension, generalNames, nameOf, OID, signed, toPem } from "./x509-der.ts";

/**
 * A PEM CSR for `names` (normal form, names.ts: wildcards and IP addresses allowed) signed
 * with `keyPem` (PKCS#8). When every name is an IP address the subject is empty: a CN is read
 * as a DNS name by CAs that look at it (RFC 8555 §7.4 wants the CSR to name only the order's
 * identifiers), and pebble sets the CN itself. So it is when every host name is longer than a
 * CN may be (x509.ts `commonNameFor`).
 */
export async function createCsr(names: string[], keyPem: string): Promise<string> {
  if (names.length === 0) throw new RotaError("csr_invalid", "csr: no domains to request", { noRetry: true });
  const key = privateKeyOf(keyPem);
  const type = key && keyTypeOfObject(key);
  if (!key || !type) throw new RotaError("key_invalid", "csr: private key is not one of the supported key types", { noRetry: true });
  const spki = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  // RFC 2986 §4.1: version 0, subject, key, then the attributes: one extensionRequest holding the SAN.
  const info = seq(
    smallInteger(0),
    nameOf(commonNameFor(names)),
    spki,
    explicit(0, seq(oid(OID.extensionRequest), set(seq(extension(OID.subjectAltName, false, generalNames(sanEntries(names))))))),
  );
  return toPem(signed(info, key, type), "CERTIFICATE REQUEST");
}

function privateKeyOf(pem: string): KeyObject | null {
  try {
    return createPrivateKey(pem);
  } catch {
    return null;
  }
}
