/**
 * @module The chain to serve from getInfo's `CaCertificates`, which come in no promised order:
 * from the leaf's issuer upward by subject, self-signed roots dropped (clients hold their own).
 * Whether each one really signed the one below is the verify step's to check.
 */
import type { X509Certificate } from "@peculiar/x509";
import { RotaError } from "../../../errors.ts";
import { parseCert } from "../../../crypto/x509.ts";

export async function orderChain(leafPem: string, caPems: string[], who: string, certificateId: number): Promise<string> {
  const bad = (why: string, cause?: unknown) => new RotaError("namecheap_chain", `${who}: certificate ${certificateId}: ${why}`, { cause });
  const leaf = await parseCert(leafPem).catch((err: unknown) => {
    throw bad("the leaf does not parse", err);
  });
  const cas: { cert: X509Certificate; pem: string }[] = [];
  for (const pem of caPems) {
    const cert = await parseCert(pem).catch((err: unknown) => {
      throw bad("a CA certificate does not parse", err);
    });
    if (cert.subject !== cert.issuer) cas.push({ cert, pem });
  }
  const chain: string[] = [];
  let issuer = leaf.issuer;
  for (;;) {
    const i = cas.findIndex((c) => c.cert.subject === issuer);
    if (i < 0) break;
    const [next] = cas.splice(i, 1);
    chain.push(next!.pem);
    issuer = next!.cert.issuer;
  }
  if (chain.length === 0) throw bad(`the reply has no intermediate certificate for the leaf's issuer "${leaf.issuer}"`);
  return chain.join("");
}
