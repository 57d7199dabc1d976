/** @module The ARI certID read from DER: RFC 9773's vector, the serial's 0x00 byte kept, no AKI no certID. */
import { describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { x509 as loadX509 } from "../../../crypto/x509.ts";
import { ariCertId, shortCertId } from "./cert-id.ts";

const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const x509 = await loadX509();

/** A self-signed certificate with this serial (hex, as its DER value bytes) and AKI keyIdentifier (hex), or none. */
async function certWith(serialHex: string, akiHex: string | null): Promise<Uint8Array> {
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex,
    name: "CN=ari.test",
    notBefore: new Date("2025-01-01T00:00:00Z"),
    notAfter: new Date("2025-04-01T00:00:00Z"),
    keys,
    signingAlgorithm: alg,
    extensions: akiHex === null ? [] : [new x509.AuthorityKeyIdentifierExtension(akiHex)],
  });
  return new Uint8Array(cert.rawData);
}

describe("ariCertId", () => {
  test("RFC 9773 §4.1's example: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4, serial 00:87:65:43:21", async () => {
    const der = await certWith("0087654321", "69885b6b87464041e1b37b847ba0ae2cde01c8d4");
    expect(ariCertId(der)).toBe("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    // The same bytes node:crypto hands the daemon.
    const pem = new x509.X509Certificate(der.slice().buffer as ArrayBuffer).toString("pem");
    expect(ariCertId(new X509Certificate(pem).raw)).toBe("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  });

  test("a serial without a sign byte is taken as it is", async () => {
    expect(ariCertId(await certWith("7f01", "0102"))).toBe(`${Buffer.from([1, 2]).toString("base64url")}.${Buffer.from([0x7f, 0x01]).toString("base64url")}`);
  });

  test("a 20-byte serial and AKI parse (multi-byte lengths around them)", async () => {
    const der = await certWith(`00${"ab".repeat(19)}`, "aa".repeat(20));
    expect(ariCertId(der)).toBe(`${Buffer.from("aa".repeat(20), "hex").toString("base64url")}.${Buffer.from(`00${"ab".repeat(19)}`, "hex").toString("base64url")}`);
  });

  test("no AKI: no certID, so no ARI for that certificate", async () => {
    expect(ariCertId(await certWith("01", null))).toBeNull();
  });

  test("bytes that are not a certificate: null, no throw", () => {
    for (const bad of [new Uint8Array(), new Uint8Array([0x30]), new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), new Uint8Array([0x04, 0x01, 0x00]), new TextEncoder().encode("hello")]) {
      expect(ariCertId(bad)).toBeNull();
    }
  });

  test("shortCertId keeps the AKI's first four characters and the whole serial", () => {
    expect(shortCertId("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")).toBe("aYhb….AIdlQyE");
  });
});
