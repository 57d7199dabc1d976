import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicKey } from "node:crypto";
import { createCsr } from "./csr.ts";
import { generateKeyPem, KEY_TYPES, type KeyType } from "./keys.ts";
import { x509 } from "./x509.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-csr-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SAN_OID = "2.5.29.17";
const DOMAINS = ["example.com", "*.example.com", "www.example.com"];
const OPENSSL_SIG: Record<KeyType, string> = {
  "ecdsa-p256": "ecdsa-with-SHA256",
  "ecdsa-p384": "ecdsa-with-SHA384",
  "rsa-2048": "sha256WithRSAEncryption",
  "rsa-3072": "sha256WithRSAEncryption",
  "rsa-4096": "sha256WithRSAEncryption",
};

describe("createCsr", () => {
  for (const type of KEY_TYPES) {
    test(`${type}: parses, names every domain, and openssl accepts its signature`, async () => {
      const key = generateKeyPem(type);
      const pem = await createCsr(DOMAINS, key);
      expect(pem).toStartWith("-----BEGIN CERTIFICATE REQUEST-----\n");
      expect(pem).toEndWith("-----END CERTIFICATE REQUEST-----\n");

      const lib = await x509();
      const csr = new lib.Pkcs10CertificateRequest(pem);
      expect(csr.subject).toBe("CN=example.com");
      const san = csr.getExtension(SAN_OID);
      expect(san).not.toBeNull();
      expect(new lib.SubjectAlternativeNameExtension(san!.rawData).names.items.map((n) => [n.type, n.value])).toEqual(
        DOMAINS.map((d) => ["dns", d]),
      );
      expect(Buffer.from(csr.publicKey.rawData)).toEqual(createPublicKey(key).export({ type: "spki", format: "der" }));
      expect(await csr.verify()).toBe(true);

      const file = join(dir, `${type}.csr`);
      writeFileSync(file, pem);
      const r = Bun.spawnSync(["openssl", "req", "-in", file, "-verify", "-noout", "-text"]);
      expect(r.stderr.toString()).toContain("verify OK");
      expect(r.exitCode).toBe(0);
      expect(r.stdout.toString()).toContain(`Signature Algorithm: ${OPENSSL_SIG[type]}`);
      expect(r.stdout.toString()).toContain("DNS:example.com, DNS:*.example.com, DNS:www.example.com");
    });
  }

  test("IP addresses are iPAddress SANs; the CN is the first DNS name, none when all are IPs", async () => {
    const lib = await x509();
    const read = (pem: string) => {
      const csr = new lib.Pkcs10CertificateRequest(pem);
      const san = new lib.SubjectAlternativeNameExtension(csr.getExtension(SAN_OID)!.rawData);
      return { subject: csr.subject, sans: san.names.items.map((n) => [n.type, n.value]) };
    };
    const key = generateKeyPem("ecdsa-p256");
    const mixed = await createCsr(["127.0.0.1", "xn--bcher-kva.example", "2001:db8::1"], key);
    expect(read(mixed)).toEqual({
      subject: "CN=xn--bcher-kva.example",
      sans: [
        ["ip", "127.0.0.1"],
        ["dns", "xn--bcher-kva.example"],
        ["ip", "2001:db8::1"],
      ],
    });
    const file = join(dir, "mixed.csr");
    writeFileSync(file, mixed);
    const r = Bun.spawnSync(["openssl", "req", "-in", file, "-verify", "-noout", "-text"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toContain("IP Address:127.0.0.1, DNS:xn--bcher-kva.example, IP Address:2001:DB8:0:0:0:0:0:1");

    const onlyIps = await createCsr(["192.0.2.1", "::ffff:192.0.2.1"], key);
    expect(read(onlyIps)).toEqual({ subject: "", sans: [["ip", "192.0.2.1"], ["ip", "::ffff:c000:201"]] });
    writeFileSync(file, onlyIps);
    const text = Bun.spawnSync(["openssl", "req", "-in", file, "-verify", "-noout", "-subject"]).stdout.toString();
    expect(text.trim()).toBe("subject=");
  });

  test("the CN is the first DNS name of at most 64 characters (X.520 ub-common-name; Let's Encrypt refuses a longer CN), none when every one is longer", async () => {
    const lib = await x509();
    const long = `${"a".repeat(60)}.example`;
    const key = generateKeyPem("ecdsa-p256");
    const csr = new lib.Pkcs10CertificateRequest(await createCsr([long, "192.0.2.1", "b.example"], key));
    expect(csr.subject).toBe("CN=b.example");
    expect(new lib.SubjectAlternativeNameExtension(csr.getExtension(SAN_OID)!.rawData).names.items.map((n) => n.value)).toEqual([long, "192.0.2.1", "b.example"]);
    const sixtyFour = `${"c".repeat(56)}.example`;
    expect(new lib.Pkcs10CertificateRequest(await createCsr([sixtyFour], key)).subject).toBe(`CN=${sixtyFour}`);
    expect(new lib.Pkcs10CertificateRequest(await createCsr([long], key)).subject).toBe("");
  });

  test("refuses an empty domain list", async () => {
    await expect(createCsr([], generateKeyPem("ecdsa-p256"))).rejects.toMatchObject({ code: "csr_invalid", message: "csr: no domains to request" });
  });
});
