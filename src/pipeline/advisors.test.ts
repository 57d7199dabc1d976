/** @module Which orders may say what they replace: only one sharing a name with the certificate (RFC 9773 §5). */
import { expect, test } from "bun:test";
import { x509 } from "../crypto/x509.ts";
import { sharesName } from "./advisors.ts";

async function leafFor(names: string[]): Promise<string> {
  const x = await x509();
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=advisors.test",
    notBefore: new Date("2030-01-01T00:00:00Z"),
    notAfter: new Date("2030-03-01T00:00:00Z"),
    keys,
    signingAlgorithm: alg,
    extensions: [new x.SubjectAlternativeNameExtension(names.map((n) => (/^[\d.]+$/.test(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n })))],
  });
  return cert.toString("pem");
}

test("an order keeping one of the certificate's names replaces it; one renamed entirely does not (Let's Encrypt answers malformed)", async () => {
  const pem = await leafFor(["www.example.com", "example.com", "192.0.2.7"]);
  expect(sharesName(pem, ["www.example.com", "new.example.com"])).toBe(true);
  expect(sharesName(pem, ["192.0.2.7"])).toBe(true);
  expect(sharesName(pem, ["new.example.com"])).toBe(false);
  expect(sharesName(pem, ["*.example.com"])).toBe(false);
});

test("a wildcard in the certificate covers one label, as TLS matches it", async () => {
  const pem = await leafFor(["*.example.com"]);
  expect(sharesName(pem, ["*.example.com"])).toBe(true);
  expect(sharesName(pem, ["api.example.com"])).toBe(true);
  expect(sharesName(pem, ["a.b.example.com"])).toBe(false);
  expect(sharesName(pem, ["example.com"])).toBe(false);
});
