/** @module Local-CA leaves for IP addresses and IDNs: SANs as openssl reads them, and openssl's own name checks. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { createCsr } from "../../../crypto/csr.ts";
import { generateKeyPem } from "../../../crypto/keys.ts";
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
});
