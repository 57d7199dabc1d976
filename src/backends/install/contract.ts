/**
 * @module The InstallBackend contract as a test suite: every install backend and every
 * fake runs `runInstallContract` from its own test file, with real certificates.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../clock.ts";
import { createCsr } from "../../crypto/csr.ts";
import { generateKeyPem } from "../../crypto/keys.ts";
import { createLocalCa } from "../ca/local/local-ca.ts";
import type { InstallBackend, InstallRequest } from "../types.ts";

export interface InstallSubject {
  backend: InstallBackend;
  cleanup?(): void | Promise<void>;
}

/** Two certificates for one cert id, issued one after the other by a local CA. */
export interface InstallFixtures {
  first: InstallRequest;
  second: InstallRequest;
}

/** Real keys and certificates (a backend may parse what it installs); `stateDir` holds the CA. */
export async function makeInstallFixtures(stateDir: string, certId = "www"): Promise<InstallFixtures> {
  const ca = createLocalCa("fixtures", { validityDays: 30, commonName: undefined }, { stateDir, clock: systemClock });
  const signal = new AbortController().signal;
  const domains = [`${certId}.example.com`];
  const one = async (): Promise<InstallRequest> => {
    const privateKeyPem = generateKeyPem("ecdsa-p256");
    const { order } = await ca.submit({ certId, domains, csrPem: await createCsr(domains, privateKeyPem), preferredKinds: [] }, signal);
    const { leafPem, chainPem } = await ca.awaitIssuance(order, signal);
    return { certId, domains, leafPem, chainPem, privateKeyPem };
  };
  return { first: await one(), second: await one() };
}

const same = (a: string | null, b: string) => expect(a?.trim()).toBe(b.trim());

export function runInstallContract(name: string, make: () => InstallSubject | Promise<InstallSubject>): void {
  describe(`InstallBackend contract: ${name}`, () => {
    let caDir: string;
    let fx: InstallFixtures;
    let subject: InstallSubject;
    const signal = new AbortController().signal;

    beforeAll(async () => {
      caDir = mkdtempSync(join(tmpdir(), "rota-install-ca-"));
      fx = await makeInstallFixtures(caDir);
    });
    afterAll(() => rmSync(caDir, { recursive: true, force: true }));
    beforeEach(async () => {
      subject = await make();
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    test("nothing installed reads as null", async () => {
      expect(await subject.backend.currentCertPem(fx.first.certId)).toBeNull();
    });

    test("after an install, currentCertPem is the leaf", async () => {
      await subject.backend.install(fx.first, signal);
      same(await subject.backend.currentCertPem(fx.first.certId), fx.first.leafPem);
    });

    test("a second install replaces the first", async () => {
      await subject.backend.install(fx.first, signal);
      await subject.backend.install(fx.second, signal);
      same(await subject.backend.currentCertPem(fx.first.certId), fx.second.leafPem);
    });

    test("installing the same certificate again changes nothing", async () => {
      await subject.backend.install(fx.first, signal);
      await subject.backend.install(fx.first, signal);
      same(await subject.backend.currentCertPem(fx.first.certId), fx.first.leafPem);
    });

    test("cert ids are independent", async () => {
      await subject.backend.install(fx.first, signal);
      expect(await subject.backend.currentCertPem("other")).toBeNull();
    });

    test("an install cancelled before it starts leaves the installed certificate in place", async () => {
      await subject.backend.install(fx.first, signal);
      const ac = new AbortController();
      ac.abort();
      await expect(subject.backend.install(fx.second, ac.signal)).rejects.toThrow();
      same(await subject.backend.currentCertPem(fx.first.certId), fx.first.leafPem);
    });
  });
}
