/** @module Local-CA leaves for IP addresses and IDNs: SANs as openssl reads them, and openssl's own name checks. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { systemClock } from "../../../clock.ts";
import { createCsr } from "../../../crypto/csr.ts";
import { explicit, octets, positiveInteger, seq, smallInteger, TAG, time, tlv, TRUE } from "../../../crypto/der.ts";
import { generateKeyPem, KEY_TYPES, type KeyType } from "../../../crypto/keys.ts";
import { parseCert, x509 } from "../../../crypto/x509.ts";
import { algorithmIdentifier, extension, fromPem, keyIdentifier, nameOf, OID, readCertificate, signed, toPem } from "../../../crypto/x509-der.ts";
import type { Signer } from "./authority.ts";
import { signLeaf } from "./leaf.ts";
import type { Issued } from "../../types.ts";
import { createLocalCa } from "./local-ca.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-leaf-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function issue(domains: string[]): Promise<Issued> {
  const ca = createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock: systemClock });
  const signal = new AbortController().signal;
  const { order } = await ca.submit({ certId: "c", domains, csrPem: await createCsr(domains, generateKeyPem("ecdsa-p256")), preferredKinds: [] }, signal);
  return ca.awaitIssuance(order, signal);
}

/** `openssl x509 -text` of the leaf, and `openssl verify` of it with the extra checks in `checks`. */
function openssl(issued: Issued, checks: string[]): { text: string; verify: { code: number; out: string } } {
  const leaf = join(dir, "leaf.pem");
  const chain = join(dir, "chain.pem");
  writeFileSync(leaf, issued.leafPem);
  writeFileSync(chain, issued.chainPem);
  const text = Bun.spawnSync(["openssl", "x509", "-in", leaf, "-noout", "-text"]).stdout.toString();
  const v = Bun.spawnSync(["openssl", "verify", "-partial_chain", "-CAfile", chain, ...checks, leaf]);
  return { text, verify: { code: v.exitCode, out: v.stdout.toString() + v.stderr.toString() } };
}

describe("local CA leaf names", () => {
  test("IP addresses are iPAddress SANs beside A-label dNSNames; openssl matches each", async () => {
    const issued = await issue(["xn--bcher-kva.example", "192.0.2.1", "2001:db8::1"]);
    for (const check of [["-verify_hostname", "xn--bcher-kva.example"], ["-verify_ip", "192.0.2.1"], ["-verify_ip", "2001:db8::1"]]) {
      const { text, verify } = openssl(issued, check);
      expect(text).toContain("Subject: CN = xn--bcher-kva.example\n");
      expect(text).toContain("DNS:xn--bcher-kva.example, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1\n");
      expect(verify.out).toContain(": OK");
      expect(verify.code).toBe(0);
    }
    expect(openssl(issued, ["-verify_ip", "192.0.2.2"]).verify.code).not.toBe(0);
  });

  test("IP addresses only: empty subject, critical SAN", async () => {
    const { text, verify } = openssl(await issue(["127.0.0.1", "::1"]), ["-verify_ip", "::1"]);
    expect(text).toMatch(/Subject: ?\n/);
    expect(text).toContain("X509v3 Subject Alternative Name: critical\n                IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1\n");
    expect(verify.code).toBe(0);
  });

  test("a first name longer than 64 characters is not the CN: the next one is, or none with a critical SAN; openssl -x509_strict accepts either", async () => {
    const long = `${"a".repeat(60)}.example`;
    const withShort = openssl(await issue([long, "b.example"]), ["-x509_strict", "-verify_hostname", long]);
    expect(withShort.text).toContain("Subject: CN = b.example\n");
    expect(withShort.verify.code).toBe(0);
    const alone = openssl(await issue([long]), ["-x509_strict", "-verify_hostname", long]);
    expect(alone.text).toMatch(/Subject: ?\n/);
    expect(alone.text).toContain(`X509v3 Subject Alternative Name: critical\n                DNS:${long}\n`);
    expect(alone.verify.code).toBe(0);
  });

  test("3,000 names (a SAN past 65,536 bytes): openssl reads and verifies the leaf and matches the last name", async () => {
    const names = Array.from({ length: 3000 }, (_, i) => `host-${i}.a-fairly-long-zone-name.example`);
    const issued = await issue(names);
    const { text, verify } = openssl(issued, ["-x509_strict", "-verify_hostname", names[2999]!]);
    expect(text).toContain(`DNS:${names[0]}, DNS:${names[1]}`);
    expect(text).toContain(`DNS:${names[2999]}\n`);
    expect(verify.code).toBe(0);
  });
});

/** A self-signed CA of `type` written with der.ts, as a Signer for signLeaf. */
function caOf(type: KeyType): Signer {
  const keyPem = generateKeyPem(type);
  const key = createPrivateKey(keyPem);
  const spki = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  const name = nameOf(`Test ${type} CA`);
  const tbs = seq(
    explicit(0, smallInteger(2)),
    positiveInteger(Uint8Array.of(7)),
    algorithmIdentifier(type),
    name,
    seq(time(new Date(Date.now() - 86_400_000)), time(new Date(Date.now() + 365 * 86_400_000))),
    name,
    spki,
    explicit(
      3,
      seq(
        extension(OID.basicConstraints, true, seq(TRUE)),
        // keyCertSign and cRLSign: bits 5 and 6, one unused bit.
        extension(OID.keyUsage, true, tlv(TAG.bitString, Uint8Array.of(1, 0x06))),
        extension(OID.subjectKeyId, false, octets(keyIdentifier(spki))),
      ),
    ),
  );
  const pem = toPem(signed(tbs, key, type), "CERTIFICATE");
  return { pem, cert: readCertificate(fromPem(pem, "CERTIFICATE")), key, type, keyId: keyIdentifier(spki) };
}

describe("local CA leaf, every key type as issuer and as subject", () => {
  for (const type of KEY_TYPES) {
    test(`${type}: openssl -x509_strict verifies it; @peculiar/x509 reads the extensions rota wrote`, async () => {
      const ca = caOf(type);
      const leafKey = generateKeyPem(type);
      const domains = ["a.example", "*.a.example", "192.0.2.1"];
      const leafPem = await signLeaf(ca, { csrPem: await createCsr(domains, leafKey), domains, validityDays: 30, now: new Date() });
      writeFileSync(join(dir, "ca.pem"), ca.pem);
      writeFileSync(join(dir, "leaf.pem"), leafPem);
      const v = Bun.spawnSync(["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-verify_hostname", "x.a.example", "-CAfile", join(dir, "ca.pem"), join(dir, "leaf.pem")]);
      expect(v.stdout.toString() + v.stderr.toString()).toContain(": OK");

      const lib = await x509();
      const [leaf, root] = await Promise.all([parseCert(leafPem), parseCert(ca.pem)]);
      expect(await leaf.verify({ publicKey: root, signatureOnly: true })).toBe(true);
      expect(leaf.getExtension(lib.BasicConstraintsExtension)).toMatchObject({ ca: false, critical: true });
      const usage = lib.KeyUsageFlags.digitalSignature | (type.startsWith("rsa-") ? lib.KeyUsageFlags.keyEncipherment : 0);
      expect(leaf.getExtension(lib.KeyUsagesExtension)).toMatchObject({ usages: usage, critical: true });
      expect(leaf.getExtension(lib.ExtendedKeyUsageExtension)!.usages).toEqual([lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth]);
      expect(leaf.getExtension(lib.SubjectAlternativeNameExtension)!.names.items.map((n) => [n.type, n.value])).toEqual([["dns", "a.example"], ["dns", "*.a.example"], ["ip", "192.0.2.1"]]);
      expect(leaf.getExtension(lib.SubjectKeyIdentifierExtension)!.keyId).toBe((await lib.SubjectKeyIdentifierExtension.create(leaf.publicKey)).keyId);
      expect(leaf.getExtension(lib.AuthorityKeyIdentifierExtension)!.keyId).toBe(root.getExtension(lib.SubjectKeyIdentifierExtension)!.keyId);
      expect(leaf.subject).toBe("CN=a.example");
      expect(leaf.issuer).toBe(`CN=Test ${type} CA`);
    });
  }

  test("every byte of a CSR flipped: signLeaf refuses it as csr_invalid, each one", async () => {
    const ca = caOf("ecdsa-p256");
    const csrPem = await createCsr(["a.example"], generateKeyPem("ecdsa-p256"));
    const der = fromPem(csrPem, "CERTIFICATE REQUEST");
    for (let i = 0; i < der.length; i++) {
      for (const flip of [0x01, 0x80]) {
        const bad = Uint8Array.from(der);
        bad[i]! ^= flip;
        const out = await signLeaf(ca, { csrPem: toPem(bad, "CERTIFICATE REQUEST"), domains: ["a.example"], validityDays: 30, now: new Date() }).catch((e: unknown) => e);
        expect(out).toMatchObject({ code: "csr_invalid" });
      }
    }
  });
});
