import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../../../clock.ts";
import { clockReading } from "../../../testing/fake-clock.ts";
import { RotaError } from "../../../errors.ts";
import { createCsr } from "../../../crypto/csr.ts";
import { generateKeyPem, type KeyType } from "../../../crypto/keys.ts";
import { parseCert } from "../../../crypto/x509.ts";
import type { CABackend, Issued } from "../../types.ts";
import { lockNow } from "../../../lockfile.ts";
import { createLocalCa } from "./local-ca.ts";
import { localCaDir as dirOf, localCaRootPath as rootOf } from "./layout.ts";

const localCaDir = (stateDir: string) => dirOf(stateDir, "internal");
const localCaRootPath = (stateDir: string) => rootOf(stateDir, "internal");

const DAY = 86_400_000;
let dir: string;
let now: Date;
const clock: Clock = clockReading(() => now);
const live = new AbortController().signal;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-localca-"));
  now = new Date();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(["openssl", ...args]);
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

async function issue(ca: CABackend, domains: string[], keyType: KeyType = "ecdsa-p256"): Promise<Issued> {
  const csrPem = await createCsr(domains, generateKeyPem(keyType));
  const { order, challenges } = await ca.submit({ certId: "c", domains, csrPem, preferredKinds: ["http-01"] }, live);
  expect(challenges).toEqual([]);
  return ca.awaitIssuance(order, live);
}

/** Runs `openssl verify` of the leaf against the root and intermediate as they are on disk. */
function opensslVerify(issued: Issued, root = localCaRootPath(dir)): { code: number; out: string } {
  const leaf = join(dir, "leaf.pem");
  const chain = join(dir, "chain.pem");
  writeFileSync(leaf, issued.leafPem);
  writeFileSync(chain, issued.chainPem);
  return openssl("verify", "-CAfile", root, "-untrusted", chain, leaf);
}

const modeOf = (p: string) => statSync(p).mode & 0o777;

describe("local CA", () => {
  test("cluster mode: never creates its root; with root.key and root.pem copied in, it signs under that root and leaves them as they are", async () => {
    const cluster = () => createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock, cluster: true });
    let err: unknown;
    await issue(cluster(), ["app.internal"]).catch((e) => (err = e));
    expect(err).toBeInstanceOf(RotaError);
    expect((err as RotaError).code).toBe("local_ca_root_missing");
    expect((err as RotaError).message).toBe(
      `local-ca: in cluster mode a node never creates its CA root: ${join(localCaDir(dir), "root.key")} and root.pem are missing, unreadable, do not match or are close to expiry; copy them from the node that made them`,
    );
    expect(existsSync(localCaDir(dir))).toBe(false);

    const other = mkdtempSync(join(tmpdir(), "rota-localca-first-"));
    try {
      await issue(createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: other, clock }), ["app.internal"]);
      mkdirSync(localCaDir(dir), { recursive: true });
      for (const f of ["root.key", "root.pem"]) copyFileSync(join(localCaDir(other), f), join(localCaDir(dir), f));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    const root = ["root.key", "root.pem"].map((f) => readFileSync(join(localCaDir(dir), f), "utf8"));
    const issued = await issue(cluster(), ["app.internal"]);
    expect(opensslVerify(issued).code).toBe(0);
    expect(["root.key", "root.pem"].map((f) => readFileSync(join(localCaDir(dir), f), "utf8"))).toEqual(root);
  });

  test("issues a leaf for two names that openssl verifies against the root", async () => {
    const ca = createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock });
    expect(ca.name).toBe("internal");
    const issued = await issue(ca, ["app.internal", "*.app.internal"]);

    expect(issued.chainPem).toBe(readFileSync(join(localCaDir(dir), "intermediate.pem"), "utf8"));
    const v = opensslVerify(issued);
    expect(v.out).toContain(": OK");
    expect(v.code).toBe(0);

    writeFileSync(join(dir, "leaf.pem"), issued.leafPem);
    const text = openssl("x509", "-in", join(dir, "leaf.pem"), "-noout", "-text").out;
    expect(text).toContain("DNS:app.internal, DNS:*.app.internal");
    expect(text).toContain("Subject: CN = app.internal");
    expect(text).toContain("Issuer: CN = rota local CA intermediate");
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    expect(text).toContain("Authority Key Identifier");
    expect(text).toContain("Subject Key Identifier");

    const info = await parseCert(issued.leafPem);
    expect(info.notBefore.getTime()).toBe(Math.floor((now.getTime() - 5 * 60_000) / 1000) * 1000);
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBe(30 * DAY);
    expect(info.serialNumber.toLowerCase()).toMatch(/^[0-9a-f]{30,32}$/);

    const caDir = localCaDir(dir);
    expect(modeOf(caDir)).toBe(0o700);
    expect(modeOf(join(caDir, "root.key"))).toBe(0o600);
    expect(modeOf(join(caDir, "intermediate.key"))).toBe(0o600);
  });

  test("root and intermediate carry the CA extensions", async () => {
    const ca = createLocalCa("internal", { validityDays: 30, commonName: "Acme Corp" }, { stateDir: dir, clock });
    await issue(ca, ["a.internal"]);
    const root = openssl("x509", "-in", localCaRootPath(dir), "-noout", "-text").out;
    expect(root).toContain("Subject: CN = Acme Corp root");
    expect(root).toMatch(/Basic Constraints: critical\s+CA:TRUE\n/);
    expect(root).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(root).toContain("Subject Key Identifier");
    const rootInfo = await parseCert(readFileSync(localCaRootPath(dir), "utf8"));
    expect(rootInfo.notAfter.getTime() - rootInfo.notBefore.getTime()).toBe(3650 * DAY);

    const inter = openssl("x509", "-in", join(localCaDir(dir), "intermediate.pem"), "-noout", "-text").out;
    expect(inter).toContain("Subject: CN = Acme Corp intermediate");
    expect(inter).toContain("Issuer: CN = Acme Corp root");
    expect(inter).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(inter).toContain("Authority Key Identifier");
  });

  test("an RSA leaf also gets keyEncipherment", async () => {
    const ca = createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock });
    const issued = await issue(ca, ["rsa.internal"], "rsa-2048");
    writeFileSync(join(dir, "leaf.pem"), issued.leafPem);
    expect(openssl("x509", "-in", join(dir, "leaf.pem"), "-noout", "-ext", "keyUsage").out).toContain("Digital Signature, Key Encipherment");
    expect(opensslVerify(issued).code).toBe(0);
  });

  test("a second instance of the same CA reuses its root and intermediate", async () => {
    await issue(createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock }), ["a.internal"]);
    const root = readFileSync(localCaRootPath(dir), "utf8");
    const rootKey = readFileSync(join(localCaDir(dir), "root.key"), "utf8");
    const inter = readFileSync(join(localCaDir(dir), "intermediate.pem"), "utf8");

    const issued = await issue(createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock }), ["b.internal"]);
    expect(readFileSync(localCaRootPath(dir), "utf8")).toBe(root);
    expect(readFileSync(join(localCaDir(dir), "root.key"), "utf8")).toBe(rootKey);
    expect(issued.chainPem).toBe(inter);
    expect(opensslVerify(issued).code).toBe(0);
  });

  test("a CA already on disk is read without its lock: the lock only guards creating it", async () => {
    await issue(createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock }), ["a.internal"]);
    // Another process holds the lock the whole time (creating a CA elsewhere would wait on it).
    const held = lockNow(join(localCaDir(dir), ".lock"), "test: held");
    try {
      const issued = await issue(createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock }), ["b.internal"]);
      expect(opensslVerify(issued).code).toBe(0);
    } finally {
      held.release();
    }
  });

  test("two local CAs get two roots, each with its own common name", async () => {
    const a = await issue(createLocalCa("a", { validityDays: 30, commonName: "Alpha" }, { stateDir: dir, clock }), ["a.internal"]);
    const b = await issue(createLocalCa("b", { validityDays: 30, commonName: "Beta" }, { stateDir: dir, clock }), ["b.internal"]);
    expect(openssl("x509", "-in", rootOf(dir, "a"), "-noout", "-subject").out).toContain("CN = Alpha root");
    expect(openssl("x509", "-in", rootOf(dir, "b"), "-noout", "-subject").out).toContain("CN = Beta root");
    expect(opensslVerify(a, rootOf(dir, "a")).code).toBe(0);
    expect(opensslVerify(b, rootOf(dir, "b")).code).toBe(0);
    expect(opensslVerify(a, rootOf(dir, "b")).code).not.toBe(0);
  });

  test("concurrent first use creates one root", async () => {
    const cas = [1, 2, 3].map(() => createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock }));
    const issued = await Promise.all(cas.flatMap((ca) => [issue(ca, ["x.internal"]), issue(ca, ["y.internal"])]));
    for (const one of issued) {
      expect(one.chainPem).toBe(issued[0]!.chainPem);
      expect(opensslVerify(one).code).toBe(0);
    }
  });

  test("renews the intermediate when 30 days remain, under the same root", async () => {
    const ca = createLocalCa("internal", { validityDays: 90, commonName: undefined }, { stateDir: dir, clock });
    const first = await issue(ca, ["a.internal"]);
    const root = readFileSync(localCaRootPath(dir), "utf8");
    const firstInter = await parseCert(first.chainPem);

    now = new Date(now.getTime() + 300 * DAY);
    const capped = await issue(ca, ["a.internal"]);
    expect(capped.chainPem).toBe(first.chainPem);
    // The leaf may not outlive its issuer.
    expect((await parseCert(capped.leafPem)).notAfter).toEqual(firstInter.notAfter);

    now = new Date(now.getTime() + 40 * DAY);
    const renewed = await issue(ca, ["a.internal"]);
    expect(renewed.chainPem).not.toBe(first.chainPem);
    expect(readFileSync(join(localCaDir(dir), "intermediate.pem"), "utf8")).toBe(renewed.chainPem);
    expect(readFileSync(localCaRootPath(dir), "utf8")).toBe(root);
    const inter = await parseCert(renewed.chainPem);
    expect(inter.notAfter.getTime()).toBeGreaterThan(now.getTime() + 300 * DAY);
    const leaf = await parseCert(renewed.leafPem);
    expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe(90 * DAY);
  });

  test("rejects a CSR whose signature does not verify", async () => {
    const ca = createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock });
    const csrPem = await createCsr(["a.internal"], generateKeyPem("ecdsa-p256"));
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ""), "base64");
    // The last byte is inside the ECDSA signature's s value: the CSR still parses.
    der[der.length - 1]! ^= 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    const { order } = await ca.submit({ certId: "c", domains: ["a.internal"], csrPem: tampered, preferredKinds: [] }, live);
    await expect(ca.awaitIssuance(order, live)).rejects.toMatchObject({ code: "csr_invalid", message: "local-ca: CSR signature invalid" });
  });

  test("honours an aborted signal", async () => {
    const ca = createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock });
    const csrPem = await createCsr(["a.internal"], generateKeyPem("ecdsa-p256"));
    const ac = new AbortController();
    ac.abort();
    const req = { certId: "c", domains: ["a.internal"], csrPem, preferredKinds: [] };
    await expect(ca.submit(req, ac.signal)).rejects.toMatchObject({ code: "aborted", message: "local-ca: cancelled" });
    const { order } = await ca.submit(req, live);
    const err = await ca.awaitIssuance(order, ac.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RotaError);
    expect((err as RotaError).code).toBe("aborted");
  });

  test("refuses an order it did not make", async () => {
    const ca = createLocalCa("internal", { validityDays: 30, commonName: undefined }, { stateDir: dir, clock });
    await expect(ca.awaitIssuance({ id: 1 }, live)).rejects.toMatchObject({ code: "bad_order" });
  });
});
