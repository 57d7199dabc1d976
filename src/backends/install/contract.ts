/**
 * @module The InstallBackend contract as a test suite: every install backend and every
 * fake runs `runInstallContract` from its own test file, with real certificates. A backend
 * that reads back (`ReadableInstall`) also passes the read-back answers: absent, present,
 * damaged (through the subject's `damage` hook) and a cancelled read-back. A backend whose
 * target can be out of reach (a NAS, a cluster) also passes the broken-target answers.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../clock.ts";
import { createCsr } from "../../crypto/csr.ts";
import { generateKeyPem } from "../../crypto/keys.ts";
import { createLocalCa } from "../ca/local/local-ca.ts";
import { RotaError } from "../../errors.ts";
import { canReadBack, type InstallBackend, type InstallRequest, type ReadBack } from "../types.ts";

export interface InstallSubject {
  backend: InstallBackend;
  /** Breaks what is installed for `certId` the way an operator or a disk might (required when the backend reads back). */
  damage?(certId: string): void | Promise<void>;
  /** Makes the target unusable (down, refusing rota's credentials); required when the suite is told `breakable`. */
  breakTarget?(): void | Promise<void>;
  /** Undoes `breakTarget`. */
  mendTarget?(): void | Promise<void>;
  cleanup?(): void | Promise<void>;
}

export interface ContractOptions {
  /**
   * The subject can break and mend its target. While broken, reading back must reject with a
   * RotaError (never answer absent: the scheduler would re-install into a target it cannot
   * see) and an install must reject with a message starting `<type> <name>:`; once mended,
   * what was installed before reads back.
   */
  breakable?: boolean;
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
export function runInstallContract(name: string, readable: boolean, make: () => InstallSubject | Promise<InstallSubject>, opts: ContractOptions = {}): void {
  const breakable = opts.breakable === true;
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

    test.if(breakable)("a broken target: install and read-back reject with RotaErrors naming the target; once mended, the earlier certificate reads back", async () => {
      expect(subject.breakTarget && subject.mendTarget).toBeDefined();
      await subject.backend.install(fx.first, signal);
      await subject.breakTarget!();
      try {
        if (canReadBack(subject.backend)) await expect(readBack(fx.first.certId)).rejects.toBeInstanceOf(RotaError);
        const failed: unknown = await subject.backend.install(fx.second, signal).then(() => null, (err: unknown) => err);
        expect(failed).toBeInstanceOf(RotaError);
        expect((failed as RotaError).message).toMatch(new RegExp(`^[a-z0-9-]+ ${subject.backend.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
      } finally {
        await subject.mendTarget!();
      }
      if (canReadBack(subject.backend)) samePresent(await readBack(fx.first.certId), fx.first.leafPem);
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
