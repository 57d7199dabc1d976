import { afterAll, describe, expect, test } from "bun:test";
import { createPrivateKey, createPublicKey, sign as cryptoSign } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../clock.ts";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { createCsr } from "./csr.ts";
import { DerError, explicit, positiveInteger, readTlv, seq, set, smallInteger, TAG, time, tlv } from "./der.ts";
import { generateKeyPem } from "./keys.ts";
import { algorithmIdentifier, extension, generalNames, ipBytes, keyIdentifier, nameOf, OID, readCertificate, readCsr, fromPem, sanNames, signed, toPem, verifySignature } from "./x509-der.ts";
import { parseCert, sanEntries, x509 } from "./x509.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-x509-der-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spkiOf = (keyPem: string) => new Uint8Array(createPublicKey(keyPem).export({ type: "spki", format: "der" }));

/** A self-signed certificate written here, with what @peculiar/x509 reads differently if anything does: a serial with a sign byte (or `serial`), a UTF-8 CN, an IPv6 SAN, a GeneralizedTime. */
function oddCertificate(keyPem: string, serial = Uint8Array.of(0x00, 0x80, 0x01)): string {
  const name = nameOf("*.bücher.example");
  const tbs = seq(
    explicit(0, smallInteger(2)),
    tlv(TAG.integer, serial),
    algorithmIdentifier("ecdsa-p256"),
    name,
    seq(time(new Date("2026-01-02T03:04:05.678Z")), time(new Date("2051-06-07T08:09:10Z"))),
    name,
    spkiOf(keyPem),
    explicit(3, seq(extension(OID.subjectAltName, false, generalNames(sanEntries(["a.example", "2001:db8::1", "192.0.2.7", "::ffff:102:304"]))))),
  );
  return toPem(signed(tbs, createPrivateKey(keyPem), "ecdsa-p256"), "CERTIFICATE");
}

describe("x509-der", () => {
  test("reads a certificate as @peculiar/x509 does: serial bytes, validity, key, names", async () => {
    const key = generateKeyPem("ecdsa-p256");
    const pem = oddCertificate(key);
    const ours = readCertificate(fromPem(pem, "CERTIFICATE"));
    const theirs = await parseCert(pem);
    expect(ours.serial).toBe(theirs.serialNumber.toLowerCase());
    expect(ours.serial).toBe("8001");
    expect(ours.notBefore).toEqual(theirs.notBefore);
    expect(ours.notBefore.toISOString()).toBe("2026-01-02T03:04:05.000Z");
    expect(ours.notAfter).toEqual(theirs.notAfter);
    expect(Buffer.from(ours.spki)).toEqual(Buffer.from(theirs.publicKey.rawData));
    expect(theirs.subject).toBe("CN=*.bücher.example");
    const sans = sanNames(ours.extensions.get(OID.subjectAltName)!).map((n) => n.value);
    expect(sans).toEqual(["a.example", "2001:db8:0:0:0:0:0:1", "192.0.2.7", "0:0:0:0:0:ffff:102:304"]);
    const lib = await x509();
    expect(theirs.getExtension(lib.SubjectAlternativeNameExtension)!.names.items.map((n) => n.value)).toEqual(["a.example", "2001:db8::1", "192.0.2.7", "::ffff:102:304"]);
    // Self-signed: its own key checks its signature, another key does not.
    expect(verifySignature(ours.signatureAlgorithm, ours.tbs, ours.signature, ours.spki)).toBe(true);
    expect(verifySignature(ours.signatureAlgorithm, ours.tbs, ours.signature, spkiOf(generateKeyPem("ecdsa-p256")))).toBe(false);
    expect(await theirs.verify({ signatureOnly: true })).toBe(true);
    // An algorithm it does not know is left to the caller.
    expect(verifySignature("1.2.840.113549.1.1.10", ours.tbs, ours.signature, ours.spki)).toBeUndefined();
  });

  test("a local-CA leaf: key identifiers as @peculiar/x509 computes them, and the CSR's key and signature", async () => {
    const key = generateKeyPem("ecdsa-p384");
    const csrPem = await createCsr(["a.example"], key);
    const csr = readCsr(fromPem(csrPem, "CERTIFICATE REQUEST"));
    expect(Buffer.from(csr.spki)).toEqual(Buffer.from(spkiOf(key)));
    expect(verifySignature(csr.signatureAlgorithm, csr.info, csr.signature, csr.spki)).toBe(true);

    const ca = createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock: systemClock });
    const signal = new AbortController().signal;
    const { order } = await ca.submit({ certId: "c", domains: ["a.example"], csrPem, preferredKinds: [] }, signal);
    const issued = await ca.awaitIssuance(order, signal);
    const lib = await x509();
    const [leaf, intermediate] = await Promise.all([parseCert(issued.leafPem), parseCert(issued.chainPem)]);
    const ski = leaf.getExtension(lib.SubjectKeyIdentifierExtension)!.keyId;
    const aki = leaf.getExtension(lib.AuthorityKeyIdentifierExtension)!.keyId;
    expect(ski).toBe(Buffer.from(keyIdentifier(csr.spki)).toString("hex"));
    expect(aki).toBe(intermediate.getExtension(lib.SubjectKeyIdentifierExtension)!.keyId);
    expect(await leaf.verify({ publicKey: intermediate, signatureOnly: true })).toBe(true);
  });

  test("serial numbers: written in minimal form, read as @peculiar/x509 reads them, whatever the encoding", async () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
    expect(hex(positiveInteger(Uint8Array.of(0, 0x7f, 1)))).toBe("02027f01");
    expect(hex(positiveInteger(Uint8Array.of(0, 0, 0x80)))).toBe("02020080");
    expect(hex(positiveInteger(Uint8Array.of(0, 0)))).toBe("020100");
    const key = generateKeyPem("ecdsa-p256");
    for (const raw of [[0, 1], [0, 0x80, 1], [0, 0, 0x80], [0x7f], [0, 0, 1], [0]]) {
      const pem = oddCertificate(key, Uint8Array.from(raw));
      expect(readCertificate(fromPem(pem, "CERTIFICATE")).serial).toBe((await parseCert(pem)).serialNumber.toLowerCase());
    }
  });

  test("IP addresses to bytes, in every spelling canonicalIp gives", () => {
    expect([...ipBytes("192.0.2.1")]).toEqual([192, 0, 2, 1]);
    expect(Buffer.from(ipBytes("::")).toString("hex")).toBe("0".repeat(32));
    expect(Buffer.from(ipBytes("::1")).toString("hex")).toBe(`${"0".repeat(31)}1`);
    expect(Buffer.from(ipBytes("2001:db8::")).toString("hex")).toBe(`20010db8${"0".repeat(24)}`);
    expect(Buffer.from(ipBytes("2001:db8:1:2:3:4:5:6")).toString("hex")).toBe("20010db8000100020003000400050006");
    for (const bad of ["1.2.3", "1.2.3.256", "1::2::3", "1:2:3:4:5:6:7", "12345::"]) expect(() => ipBytes(bad)).toThrow(DerError);
  });

  test("malformed input is a DerError, never a read past the end", () => {
    expect(() => readTlv(Uint8Array.of(0x30), 0)).toThrow(DerError);
    expect(() => readTlv(Uint8Array.of(0x30, 0x80, 0, 0), 0)).toThrow(DerError);
    expect(() => readTlv(Uint8Array.of(0x30, 0x05, 1, 2), 0)).toThrow(DerError);
    expect(() => readCertificate(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01))).toThrow(DerError);
    expect(() => fromPem("nope", "CERTIFICATE")).toThrow(DerError);
    const good = fromPem(oddCertificate(generateKeyPem("ecdsa-p256")), "CERTIFICATE");
    for (let cut = 1; cut < good.length; cut += 7) expect(() => readCertificate(good.subarray(0, cut))).toThrow(DerError);
  });
});

/** A self-signed P-256 certificate for `a.example` with `extensions` as given and the TBS's own signature algorithm `inner`. */
function selfSigned(keyPem: string, extensions: Uint8Array[], inner = algorithmIdentifier("ecdsa-p256"), name = nameOf("a.example")): Uint8Array {
  const tbs = seq(
    explicit(0, smallInteger(2)),
    positiveInteger(Uint8Array.of(1)),
    inner,
    name,
    seq(time(new Date("2026-01-01T00:00:00Z")), time(new Date("2027-01-01T00:00:00Z"))),
    name,
    spkiOf(keyPem),
    explicit(3, seq(...extensions)),
  );
  return signed(tbs, createPrivateKey(keyPem), "ecdsa-p256");
}

const selfSignedNamed = (keyPem: string, name: Uint8Array) => selfSigned(keyPem, [], algorithmIdentifier("ecdsa-p256"), name);

describe("x509-der, hostile certificates", () => {
  const san = (...names: string[]) => extension(OID.subjectAltName, false, generalNames(sanEntries(names)));

  test("two subjectAltName extensions (RFC 5280 §4.2: at most one of each) are refused, not read as the last or the first", () => {
    const key = generateKeyPem("ecdsa-p256");
    expect(sanNames(readCertificate(selfSigned(key, [san("a.example")])).extensions.get(OID.subjectAltName)!)).toEqual([{ type: "dns", value: "a.example" }]);
    expect(() => readCertificate(selfSigned(key, [san("a.example"), san("victim.example")]))).toThrow(DerError);
  });

  test("a TBS whose signature algorithm is not the certificate's (RFC 5280 §4.1.1.2) is refused", () => {
    const key = generateKeyPem("ecdsa-p256");
    expect(() => readCertificate(selfSigned(key, [san("a.example")], algorithmIdentifier("ecdsa-p384")))).toThrow(DerError);
  });

  test("a signature checks only under its own algorithm's key type: an RSA signature labelled ECDSA is not signed", () => {
    const rsa = generateKeyPem("rsa-2048");
    const ec = generateKeyPem("ecdsa-p256");
    const data = new TextEncoder().encode("tbs");
    const rsaSig = new Uint8Array(cryptoSign("sha256", data, createPrivateKey(rsa)));
    expect(verifySignature("1.2.840.113549.1.1.11", data, rsaSig, spkiOf(rsa))).toBe(true);
    expect(verifySignature("1.2.840.10045.4.3.2", data, rsaSig, spkiOf(rsa))).toBe(false);
    const ecSig = new Uint8Array(cryptoSign("sha256", data, createPrivateKey(ec)));
    expect(verifySignature("1.2.840.10045.4.3.2", data, ecSig, spkiOf(ec))).toBe(true);
    expect(verifySignature("1.2.840.113549.1.1.11", data, ecSig, spkiOf(ec))).toBe(false);
  });

  test("GeneralNames followed by stray bytes are refused", () => {
    const value = generalNames(sanEntries(["a.example"]));
    expect(() => sanNames(Uint8Array.from([...value, 0x82, 0x01, 0x61]))).toThrow(DerError);
  });

  test("a Name that is not SEQUENCE OF SET OF SEQUENCE { OID, string } is refused (a library prints some such as the right name)", () => {
    const key = generateKeyPem("ecdsa-p256");
    const good = selfSigned(key, [san("a.example")]);
    const at = Buffer.from(good).indexOf(Buffer.from(nameOf("a.example")));
    expect(readCertificate(good).subject).toEqual(nameOf("a.example"));
    // The RDN's SET tag as a context tag; the value as a NumericString; the value as a context tag; an empty RDN.
    for (const [offset, value] of [[2, 0xb1], [4 + 2 + 5, 0x12], [4 + 2 + 5, 0x93]] as const) {
      const bad = Uint8Array.from(good);
      bad[at + offset] = value;
      expect(() => readCertificate(bad)).toThrow(DerError);
    }
    const emptyRdn = seq(set());
    expect(() => readCertificate(selfSignedNamed(key, emptyRdn))).toThrow(DerError);
    expect(readCertificate(selfSignedNamed(key, seq())).subject).toEqual(seq());
  });

  test("a dNSName is an IA5String: a U-label is a DerError, never UTF-8 bytes in a SAN", () => {
    expect(() => generalNames([{ type: "dns", value: "bücher.example" }])).toThrow(DerError);
    expect(sanNames(generalNames([{ type: "dns", value: "xn--bcher-kva.example" }]))).toEqual([{ type: "dns", value: "xn--bcher-kva.example" }]);
  });

  test("an IPv6 text with too many groups around :: is a DerError", () => {
    for (const bad of ["1:2:3:4:5:6:7:8::1", "1:2:3:4::5:6:7:8", "::1:2:3:4:5:6:7:8"]) expect(() => ipBytes(bad)).toThrow(DerError);
  });

  test("every byte cut or flipped in a certificate throws a DerError or reads as a certificate whose signature fails: never another error, never a hang", () => {
    const key = generateKeyPem("ecdsa-p256");
    const good = selfSigned(key, [san("a.example", "192.0.2.1", "2001:db8::1")]);
    for (let i = 0; i < good.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = Uint8Array.from(good);
        bad[i]! ^= flip;
        let cert: ReturnType<typeof readCertificate>;
        try {
          cert = readCertificate(bad);
        } catch (err) {
          expect(err).toBeInstanceOf(DerError);
          continue;
        }
        const ok = verifySignature(cert.signatureAlgorithm, cert.tbs, cert.signature, spkiOf(key));
        // A flip outside what is signed (the outer algorithm's or signature's bytes) may still read; it must not verify unless the bytes signed are unchanged.
        if (ok) expect(Buffer.from(cert.tbs)).toEqual(Buffer.from(readCertificate(good).tbs));
      }
    }
  });
});
