import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../clock.ts";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import type { Issued } from "../backends/types.ts";
import { createCsr } from "./csr.ts";
import { generateKeyPem } from "./keys.ts";
import { parseCert, splitPem, x509 } from "./x509.ts";
import { fromPem, OID, readCertificate, sanNames } from "./x509-der.ts";

let dir: string;
let issued: Issued;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-x509-"));
  const ca = createLocalCa("t", { validityDays: 10, commonName: undefined }, { stateDir: dir, clock: systemClock });
  const signal = new AbortController().signal;
  const domains = ["a.example", "*.a.example"];
  const { order } = await ca.submit({ certId: "c", domains, csrPem: await createCsr(domains, generateKeyPem("ecdsa-p256")), preferredKinds: [] }, signal);
  issued = await ca.awaitIssuance(order, signal);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("x509", () => {
  test("loads the library once", async () => {
    expect(await x509()).toBe(await x509());
  });

  test("splitPem returns each certificate block, normalized", () => {
    const [leaf, inter] = [issued.leafPem, issued.chainPem];
    const messy = `subject=CN = a\r\n${leaf.replace(/\n/g, "\r\n")}\n  junk\n${inter.replace(/\n/g, "\n\n")}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`;
    expect(splitPem(messy)).toEqual([leaf, inter]);
    expect(splitPem("")).toEqual([]);
  });

  test("parseCert reads the first certificate: the facts openssl reads", async () => {
    const cert = await parseCert(issued.leafPem + issued.chainPem);
    expect(sanNames(readCertificate(fromPem(issued.leafPem, "CERTIFICATE")).extensions.get(OID.subjectAltName)!).map((n) => n.value)).toEqual(["a.example", "*.a.example"]);
    expect(cert.subject).toBe("CN=a.example");
    expect(cert.issuer).toBe("CN=rota local CA intermediate");
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(10 * 86_400_000);
    const file = join(dir, "leaf.pem");
    writeFileSync(file, issued.leafPem);
    const out = Bun.spawnSync(["openssl", "x509", "-in", file, "-noout", "-serial"]).stdout.toString();
    expect(`serial=${cert.serialNumber.toLowerCase()}\n`).toBe(out.toLowerCase());
  });

  test("parseCert refuses input without a certificate", async () => {
    await expect(parseCert("nothing here")).rejects.toMatchObject({ code: "cert_invalid", message: "x509: no certificate in PEM" });
  });
});
