/**
 * @module The InstallBackend contract as a test suite: every install backend and every
 * fake runs `runInstallContract` from its own test file, with real certificates. A backend
 * that reads back (`ReadableInstall`) also passes the read-back answers: absent, present,
 * damaged (through the subject's `damage` hook) and a cancelled read-back.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../clock.ts";
import { createCsr } from "../../crypto/csr.ts";
import { generateKeyPem } from "../../crypto/keys.ts";
import { createLocalCa } from "../ca/local/local-ca.ts";
import { canReadBack, type InstallBackend, type InstallRequest, type ReadBack } from "../types.ts";

export interface InstallSubject {
  backend: InstallBackend;
  /** Breaks what is installed for `certId` the way an operator or a disk might (required when the backend reads back). */
  damage?(certId: string): void | Promise<void>;
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

const samePresent = (r: ReadBack, leafPem: string) => expect(r.state === "present" ? { state: r.state, leaf: r.leafPem.trim() } : r).toEqual({ state: "present", leaf: leafPem.trim() });

/**
 * `readable` says whether the backend reads back; the read-back tests run only then (it is
 * a static capability, so the suite is told rather than finding out from an instance).
 */
export function runInstallContract(name: string, readable: boolean, make: () => InstallSubject | Promise<InstallSubject>): void {
  describe(`InstallBackend contract: ${name}`, () => {
    let caDir: string;
    let fx: InstallFixtures;
    let subject: InstallSubject;
    const signal = new AbortController().signal;
    const readBack = (certId: string, s = signal): Promise<ReadBack> => {
      if (!canReadBack(subject.backend)) throw new Error(`${name} does not read back, yet the suite was told it does`);
      return subject.backend.readBack(certId, s);
    };

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

    test(`reading back is ${readable ? "" : "not "}a capability of this backend`, async () => {
      expect(canReadBack(subject.backend)).toBe(readable);
      if (readable) expect(subject.damage).toBeDefined();
    });

    test("installing twice, or a second certificate, succeeds", async () => {
      await subject.backend.install(fx.first, signal);
      await subject.backend.install(fx.first, signal);
      await subject.backend.install(fx.second, signal);
    });

    test.if(readable)("nothing installed reads back as absent", async () => {
      expect(await readBack(fx.first.certId)).toEqual({ state: "absent" });
    });

    test.if(readable)("after an install, the read-back is present with the leaf", async () => {
      await subject.backend.install(fx.first, signal);
      samePresent(await readBack(fx.first.certId), fx.first.leafPem);
    });

    test.if(readable)("a second install replaces the first", async () => {
      await subject.backend.install(fx.first, signal);
      await subject.backend.install(fx.second, signal);
      samePresent(await readBack(fx.first.certId), fx.second.leafPem);
    });

    test.if(readable)("installing the same certificate again changes nothing", async () => {
      await subject.backend.install(fx.first, signal);
      await subject.backend.install(fx.first, signal);
      samePresent(await readBack(fx.first.certId), fx.first.leafPem);
    });

    test.if(readable)("cert ids are independent", async () => {
      await subject.backend.install(fx.first, signal);
      expect(await readBack("other")).toEqual({ state: "absent" });
    });

    test.if(readable)("a damaged install reads back as damaged with a reason, and an install repairs it", async () => {
      await subject.backend.install(fx.first, signal);
      await subject.damage!(fx.first.certId);
      const damaged = await readBack(fx.first.certId);
      expect(damaged.state).toBe("damaged");
      expect(damaged.state === "damaged" && damaged.reason.length > 0).toBe(true);
      await subject.backend.install(fx.first, signal);
      samePresent(await readBack(fx.first.certId), fx.first.leafPem);
    });

    test.if(readable)("a cancelled read-back rejects with a RotaError(aborted)", async () => {
      await subject.backend.install(fx.first, signal);
      const ac = new AbortController();
      ac.abort();
      await expect(readBack(fx.first.certId, ac.signal)).rejects.toMatchObject({ code: "aborted" });
    });

    test("an install cancelled before it starts leaves the installed certificate in place", async () => {
      await subject.backend.install(fx.first, signal);
      const ac = new AbortController();
      ac.abort();
      await expect(subject.backend.install(fx.second, ac.signal)).rejects.toThrow();
      if (canReadBack(subject.backend)) samePresent(await readBack(fx.first.certId), fx.first.leafPem);
    });
  });
}
