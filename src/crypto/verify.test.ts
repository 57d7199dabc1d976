import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPrivateKey, createPublicKey, sign } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../clock.ts";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import type { CABackend, Issued } from "../backends/types.ts";
import { createCsr } from "./csr.ts";
import { bits, explicit, positiveInteger, seq, smallInteger, time } from "./der.ts";
import { generateKeyPem, type KeyType } from "./keys.ts";
import { sanEntries } from "./x509.ts";
import { algorithmIdentifier, extension, fromPem, generalNames, nameOf, OID, readCertificate, toPem } from "./x509-der.ts";
import { verifyIssued, type VerifyArgs } from "./verify.ts";

const DOMAINS = ["example.com", "*.example.com"];
let dir: string;
let key: string;
let good: Issued;
/** Same CN as the CA that issued `good`, different keys: only the signature tells them apart. */
let twinCa: CABackend;
let otherNameCa: CABackend;

async function issue(ca: CABackend, domains: string[], keyPem: string): Promise<Issued> {
  const signal = new AbortController().signal;
  const csrPem = await createCsr(domains, keyPem);
  const { order } = await ca.submit({ certId: "c", domains, csrPem, preferredKinds: [] }, signal);
  return ca.awaitIssuance(order, signal);
}

const localCa = (sub: string, commonName?: string) =>
  createLocalCa(sub, { validityDays: 30, commonName }, { stateDir: join(dir, sub), clock: systemClock });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-verify-"));
  key = generateKeyPem("ecdsa-p256");
  good = await issue(localCa("main"), DOMAINS, key);
  twinCa = localCa("twin");
  otherNameCa = localCa("other", "Other");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const args = (over: Partial<VerifyArgs> = {}): VerifyArgs => ({ ...good, privateKeyPem: key, domains: DOMAINS, now: new Date(), ...over });
const refusal = (message: string) => ({ code: "verify_failed", message });

describe("verifyIssued", () => {
  test("accepts a certificate that matches, covers and chains", async () => {
    const v = await verifyIssued(args());
    expect(v.serial).toMatch(/^[0-9a-f]+$/);
    expect(v.notAfter.getTime()).toBeGreaterThan(v.notBefore.getTime());
  });

  test("compares names case-insensitively", async () => {
    await verifyIssued(args({ domains: ["EXAMPLE.com", "*.Example.COM"] }));
  });

  test("refuses a certificate for another key", async () => {
    await expect(verifyIssued(args({ privateKeyPem: generateKeyPem("ecdsa-p256") }))).rejects.toMatchObject(
      refusal("verify: certificate does not match the private key"),
    );
  });

  test("refuses when a configured name is missing", async () => {
    await expect(verifyIssued(args({ domains: [...DOMAINS, "www.example.com"] }))).rejects.toMatchObject(
      refusal("verify: certificate does not cover www.example.com"),
    );
  });

  test("a wildcard SAN does not stand in for a configured name, nor the reverse", async () => {
    const plain = await issue(localCa("plain"), ["a.example.com"], key);
    await expect(verifyIssued(args({ ...plain, domains: ["*.example.com"] }))).rejects.toMatchObject(
      refusal("verify: certificate does not cover *.example.com"),
    );
    await expect(verifyIssued(args({ domains: ["a.example.com"] }))).rejects.toMatchObject(
      refusal("verify: certificate does not cover a.example.com"),
    );
  });

  test("IP addresses are matched against iPAddress SANs, whatever their spelling", async () => {
    const ips = await issue(localCa("ips"), ["a.example", "192.0.2.1", "2001:db8::1"], key);
    await verifyIssued(args({ ...ips, domains: ["a.example", "192.0.2.1", "2001:DB8:0:0:0:0:0:1"] }));
    await expect(verifyIssued(args({ ...ips, domains: ["a.example", "192.0.2.2"] }))).rejects.toMatchObject(
      refusal("verify: certificate does not cover 192.0.2.2"),
    );
    // A dNSName spelling an address is not an iPAddress SAN (clients match IPs only against those).
    const dnsSpelled = await issue(localCa("dns-ip"), ["a.example"], key);
    await expect(verifyIssued(args({ ...dnsSpelled, domains: ["a.example", "2001:db8::1"] }))).rejects.toMatchObject(
      refusal("verify: certificate does not cover 2001:db8::1"),
    );
  });

  test("refuses a chain whose intermediate did not sign the leaf", async () => {
    const twin = await issue(twinCa, DOMAINS, key);
    await expect(verifyIssued(args({ chainPem: twin.chainPem }))).rejects.toMatchObject(
      refusal("verify: certificate is not signed by the chain the CA returned"),
    );
  });

  test("refuses a chain whose intermediate has another name", async () => {
    const other = await issue(otherNameCa, DOMAINS, key);
    await expect(verifyIssued(args({ chainPem: other.chainPem }))).rejects.toMatchObject(
      refusal(`verify: certificate is issued by "CN=rota local CA intermediate" but the CA's chain has "CN=Other intermediate" next`),
    );
  });

  test("checks every link: an intermediate not signed by the next chain certificate is refused", async () => {
    await issue(twinCa, DOMAINS, key); // puts the twin's root on disk
    const twinRoot = await Bun.file(join(dir, "twin", "local-ca", "twin", "root.pem")).text();
    const mainRoot = await Bun.file(join(dir, "main", "local-ca", "main", "root.pem")).text();
    await verifyIssued(args({ chainPem: good.chainPem + mainRoot }));
    await expect(verifyIssued(args({ chainPem: good.chainPem + twinRoot }))).rejects.toMatchObject(
      refusal("verify: chain certificate 1 is not signed by the next one in the chain"),
    );
  });

  test("requires an intermediate chain", async () => {
    await expect(verifyIssued(args({ chainPem: "" }))).rejects.toMatchObject(refusal("verify: the CA returned no intermediate chain"));
  });

  test("refuses a certificate that is not valid at `now`", async () => {
    await expect(verifyIssued(args({ now: new Date(Date.now() + 31 * 86_400_000) }))).rejects.toMatchObject({
      code: "verify_failed",
      message: expect.stringMatching(/^verify: certificate expired at /),
    });
    await expect(verifyIssued(args({ now: new Date(Date.now() - 86_400_000) }))).rejects.toMatchObject({
      code: "verify_failed",
      message: expect.stringMatching(/^verify: certificate is not valid before /),
    });
  });

  test("every byte of the leaf or of the intermediate flipped: refused as verify_failed (never the library's no-retry cert_invalid), each one", async () => {
    for (const field of ["leafPem", "chainPem"] as const) {
      const der = fromPem(good[field], "CERTIFICATE");
      for (let i = 0; i < der.length; i++) {
        for (const flip of [0x01, 0x80]) {
          const bad = Uint8Array.from(der);
          bad[i]! ^= flip;
          const err = await verifyIssued(args({ [field]: toPem(bad, "CERTIFICATE") })).then(() => undefined, (e: unknown) => e);
          if (err === undefined && field === "chainPem") {
            // The last certificate's own signature is no one's to check here (no root): it may pass when its name and key are intact.
            const [was, is] = [readCertificate(der), readCertificate(bad)];
            expect([Buffer.from(is.subject), Buffer.from(is.spki)]).toEqual([Buffer.from(was.subject), Buffer.from(was.spki)]);
          } else expect(err).toMatchObject({ code: "verify_failed" });
        }
      }
    }
  });

  test("refuses garbage in place of a certificate", async () => {
    await expect(verifyIssued(args({ leafPem: "nope" }))).rejects.toMatchObject(refusal("verify: the CA returned no readable certificate"));
  });
});

/** One certificate written field by field: what a CA could return, right or wrong. */
interface Spec {
  subject: string;
  issuer: string;
  /** The subject's key (its public half goes in). */
  key: string;
  /** The issuer's key and type: what signs. */
  signer: string;
  signerType: KeyType;
  /** The algorithm named in the certificate, when it is not the signer's own. */
  label?: KeyType;
  notBefore: Date;
  notAfter: Date;
  extensions?: Uint8Array[];
}

function certPem(s: Spec): string {
  const alg = algorithmIdentifier(s.label ?? s.signerType);
  const tbs = seq(
    explicit(0, smallInteger(2)),
    positiveInteger(Uint8Array.of(0x80, 1)),
    alg,
    nameOf(s.issuer),
    seq(time(s.notBefore), time(s.notAfter)),
    nameOf(s.subject),
    new Uint8Array(createPublicKey(s.key).export({ type: "spki", format: "der" })),
    explicit(3, seq(...(s.extensions ?? []))),
  );
  const hash = s.signerType === "ecdsa-p384" ? "sha384" : "sha256";
  return toPem(seq(tbs, alg, bits(sign(hash, tbs, createPrivateKey(s.signer)))), "CERTIFICATE");
}

describe("verifyIssued against certificates a CA should not return", () => {
  const DAY = 86_400_000;
  const now = new Date("2026-06-01T00:00:00Z");
  const leafKey = () => generateKeyPem("ecdsa-p256");
  const san = (...names: string[]) => extension(OID.subjectAltName, false, generalNames(sanEntries(names)));
  const chainOf = (over: Partial<Spec> = {}) => {
    const ca = generateKeyPem("ecdsa-p384");
    const pem = certPem({ subject: "Test CA", issuer: "Test CA", key: ca, signer: ca, signerType: "ecdsa-p384", notBefore: new Date(now.getTime() - 365 * DAY), notAfter: new Date(now.getTime() + 365 * DAY), ...over });
    return { ca, pem };
  };
  const leafOf = (key: string, ca: string, over: Partial<Spec> = {}) =>
    certPem({ subject: "a.example", issuer: "Test CA", key, signer: ca, signerType: "ecdsa-p384", notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 30 * DAY), extensions: [san("a.example")], ...over });
  const check = (leafPem: string, chainPem: string, privateKeyPem: string) => verifyIssued({ leafPem, chainPem, privateKeyPem, domains: ["a.example"], now });

  test("the hand-written chain itself verifies", async () => {
    const key = leafKey();
    const { ca, pem } = chainOf();
    expect((await check(leafOf(key, ca), pem, key)).serial).toBe("8001");
  });

  test("refuses a chain certificate that has expired, or is not valid yet", async () => {
    const key = leafKey();
    const expired = chainOf({ notAfter: new Date(now.getTime() - DAY) });
    await expect(check(leafOf(key, expired.ca), expired.pem, key)).rejects.toMatchObject(refusal("verify: chain certificate 1 expired at 2026-05-31T00:00:00.000Z"));
    const early = chainOf({ notBefore: new Date(now.getTime() + DAY) });
    await expect(check(leafOf(key, early.ca), early.pem, key)).rejects.toMatchObject(refusal("verify: chain certificate 1 is not valid before 2026-06-02T00:00:00.000Z"));
  });

  test("an expired certificate past the leaf's issuer (a cross-sign that clients with the newer root skip) does not block the renewal", async () => {
    const key = leafKey();
    const ca = generateKeyPem("ecdsa-p384");
    const old = generateKeyPem("ecdsa-p384");
    const crossSign = certPem({ subject: "Old Root", issuer: "Old Root", key: old, signer: old, signerType: "ecdsa-p384", notBefore: new Date(now.getTime() - 3650 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const signedByOld = certPem({ subject: "Test CA", issuer: "Old Root", key: ca, signer: old, signerType: "ecdsa-p384", notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 365 * DAY) });
    await check(leafOf(key, ca), signedByOld + crossSign, key);
  });

  test("refuses a leaf with a second SAN that names what the first does not", async () => {
    const key = leafKey();
    const { ca, pem } = chainOf();
    await expect(check(leafOf(key, ca, { extensions: [san("other.example"), san("a.example")] }), pem, key)).rejects.toMatchObject(
      refusal("verify: the CA returned no readable certificate"),
    );
  });

  test("refuses a leaf whose RSA signature is labelled ECDSA", async () => {
    const key = leafKey();
    const rsaCa = generateKeyPem("rsa-2048");
    const pem = certPem({ subject: "Test CA", issuer: "Test CA", key: rsaCa, signer: rsaCa, signerType: "rsa-2048", notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 365 * DAY) });
    await check(leafOf(key, rsaCa, { signerType: "rsa-2048" }), pem, key);
    await expect(check(leafOf(key, rsaCa, { signerType: "rsa-2048", label: "ecdsa-p256" }), pem, key)).rejects.toMatchObject(
      refusal("verify: certificate is not signed by the chain the CA returned"),
    );
  });

  test("refuses a leaf signed by the right name with the wrong key, and a leaf for another name", async () => {
    const key = leafKey();
    const { pem } = chainOf();
    await expect(check(leafOf(key, generateKeyPem("ecdsa-p384")), pem, key)).rejects.toMatchObject(refusal("verify: certificate is not signed by the chain the CA returned"));
    const { ca, pem: chain } = chainOf();
    await expect(check(leafOf(key, ca, { extensions: [san("b.example")] }), chain, key)).rejects.toMatchObject(refusal("verify: certificate does not cover a.example"));
  });
});
