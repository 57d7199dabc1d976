/** @module The cert page's facts agree with openssl's reading of the same certificate. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { systemClock } from "../clock.ts";
import { createCsr } from "./csr.ts";
import { certDetails } from "./details.ts";
import { generateKeyPem } from "./keys.ts";
import { summarizeCert } from "./summary.ts";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "rota-details-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const openssl = (...args: string[]) => Bun.spawnSync(["openssl", ...args]).stdout.toString().trim();

test("serial, names, validity, fingerprint and chain subjects of a local CA certificate", async () => {
  const ca = createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock: systemClock });
  const live = new AbortController().signal;
  const { order } = await ca.submit({ certId: "c", domains: ["app.internal"], csrPem: await createCsr(["app.internal"], generateKeyPem("ecdsa-p256")), preferredKinds: [] }, live);
  const { leafPem, chainPem } = await ca.awaitIssuance(order, live);
  writeFileSync(join(dir, "leaf.pem"), leafPem);
  writeFileSync(join(dir, "chain.pem"), chainPem);

  const d = certDetails(leafPem, chainPem);
  const summary = summarizeCert(leafPem);
  expect(d.serial).toBe(summary.serial);
  expect(d.notBefore).toEqual(summary.notBefore);
  expect(d.notAfter).toEqual(summary.notAfter);
  expect(`sha256 Fingerprint=${d.sha256}`).toBe(openssl("x509", "-in", join(dir, "leaf.pem"), "-noout", "-fingerprint", "-sha256"));
  const oneLine = (s: string) => s.replace(/^(subject|issuer)=/, "").split(/,\s*/).map((p) => p.replace(/\s*=\s*/, "=")).join(", ");
  expect(d.issuer).toBe(oneLine(openssl("x509", "-in", join(dir, "leaf.pem"), "-noout", "-issuer")));
  expect(d.chain).toEqual([oneLine(openssl("x509", "-in", join(dir, "chain.pem"), "-noout", "-subject"))]);
  expect(d.chain[0]).toBe(d.issuer);
});

test("a stored certificate that does not parse is a cert_invalid error", () => {
  expect(() => certDetails("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "")).toThrow("x509: stored certificate does not parse");
});
