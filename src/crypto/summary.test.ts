/** @module The native summary agrees with @peculiar/x509's reading, serial format included. */
import { expect, test } from "bun:test";
import { parseCert, x509 } from "./x509.ts";
import { summarizeCert } from "./summary.ts";

async function selfSigned(serialHex: string): Promise<string> {
  const x = await x509();
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex,
    name: "CN=summary.test",
    notBefore: new Date("2030-01-01T00:00:00Z"),
    notAfter: new Date("2030-03-01T12:34:56Z"),
    keys,
    signingAlgorithm: alg,
  });
  return cert.toString("pem");
}

for (const serial of ["01", "0a3f", "7f00ff", "ff00112233445566778899aabbccddee", "00ff1234"]) {
  test(`serial ${serial} reads the same both ways`, async () => {
    const pem = await selfSigned(serial);
    const native = summarizeCert(pem);
    const full = await parseCert(pem);
    expect(native.serial).toBe(full.serialNumber.toLowerCase());
    expect(native.notAfter.toISOString()).toBe("2030-03-01T12:34:56.000Z");
    expect(native.notAfter.getTime()).toBe(full.notAfter.getTime());
    expect(native.keyType).toBe("ecdsa-p256");
  });
}

test("names: DNS names lowercase, IP addresses in canonical form", async () => {
  const x = await x509();
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=summary.test",
    notBefore: new Date("2030-01-01T00:00:00Z"),
    notAfter: new Date("2030-03-01T00:00:00Z"),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x.SubjectAlternativeNameExtension([
        { type: "dns", value: "XN--BCHER-KVA.example" },
        { type: "ip", value: "192.0.2.1" },
        { type: "ip", value: "2001:db8:0:0:0:0:0:1" },
        { type: "email", value: "ops@example.test" },
      ]),
    ],
  });
  expect(summarizeCert(cert.toString("pem")).names).toEqual(["xn--bcher-kva.example", "192.0.2.1", "2001:db8::1"]);
});

test("garbage is a clear error", () => {
  expect(() => summarizeCert("not a certificate")).toThrow("x509: not a PEM certificate");
});
