/**
 * @module The DcvBackend contract as a test suite: every DCV backend and every fake runs
 * `runDcvContract` from its own test file (hono's `runTest({ newRouter })` pattern).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { RotaError } from "../../errors.ts";
import type { ChallengeKind, DcvBackend, DcvChallenge } from "../types.ts";

export interface DcvSubject {
  backend: DcvBackend;
  /**
   * What a CA would read for this challenge right now: the file's content for http-01,
   * every TXT value at the record name for dns-01; empty when nothing is published.
   */
  lookup(challenge: DcvChallenge): Promise<string[]>;
  cleanup?(): void | Promise<void>;
}

const ALL_KINDS: ChallengeKind[] = ["http-01", "dns-01"];

/** A challenge of `kind`; `n` makes distinct ones (another name, token and value). */
export function sampleChallenge(kind: ChallengeKind, n = 1): DcvChallenge {
  return kind === "http-01"
    ? { kind, domain: `host${n}.example.com`, token: `tok${n}_Zm9vYmFy-${n}`, keyAuthorization: `tok${n}_Zm9vYmFy-${n}.thumbprint${n}` }
    : { kind, recordName: `_acme-challenge.host${n}.example.com`, recordValue: `dmFsdWUt${n}`, ttl: 60 };
}

/**
 * Two challenges at one name: the TXT records of an apex and its wildcard (both at
 * `_acme-challenge.<domain>`, RFC 8555 §8.4), or two tokens for one domain over http-01.
 */
function sharedNameChallenges(kind: ChallengeKind): [DcvChallenge, DcvChallenge] {
  const domain = "shared.example.com";
  return kind === "http-01"
    ? [
        { kind, domain, token: "tokA_c2hhcmVk", keyAuthorization: "tokA_c2hhcmVk.thumbprint" },
        { kind, domain, token: "tokB_c2hhcmVk", keyAuthorization: "tokB_c2hhcmVk.thumbprint" },
      ]
    : [
        { kind, recordName: `_acme-challenge.${domain}`, recordValue: "YXBleC1yZWNvcmQ", ttl: 60 },
        { kind, recordName: `_acme-challenge.${domain}`, recordValue: "d2lsZGNhcmQtcmVjb3Jk", ttl: 60 },
      ];
}

const responseOf = (ch: DcvChallenge) => (ch.kind === "http-01" ? ch.keyAuthorization : ch.recordValue);

export function runDcvContract(name: string, make: () => DcvSubject | Promise<DcvSubject>): void {
  describe(`DcvBackend contract: ${name}`, () => {
    let subject: DcvSubject;
    const signal = new AbortController().signal;

    beforeEach(async () => {
      subject = await make();
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    test("supports() agrees with supportedKinds()", () => {
      const kinds = subject.backend.supportedKinds();
      expect(kinds.length).toBeGreaterThan(0);
      for (const kind of ALL_KINDS) expect(subject.backend.supports(sampleChallenge(kind))).toBe(kinds.includes(kind));
    });

    test("publish makes the response visible, remove takes it away", async () => {
      for (const kind of subject.backend.supportedKinds()) {
        const ch = sampleChallenge(kind);
        expect(await subject.lookup(ch)).toEqual([]);
        await subject.backend.publish(ch, signal);
        expect(await subject.lookup(ch)).toEqual([responseOf(ch)]);
        await subject.backend.remove(ch, signal);
        expect(await subject.lookup(ch)).toEqual([]);
      }
    });

    test("publishing twice leaves one response", async () => {
      for (const kind of subject.backend.supportedKinds()) {
        const ch = sampleChallenge(kind);
        await subject.backend.publish(ch, signal);
        await subject.backend.publish(ch, signal);
        expect(await subject.lookup(ch)).toEqual([responseOf(ch)]);
        await subject.backend.remove(ch, signal);
        expect(await subject.lookup(ch)).toEqual([]);
      }
    });

    test("removing twice is success", async () => {
      for (const kind of subject.backend.supportedKinds()) {
        const ch = sampleChallenge(kind);
        await subject.backend.publish(ch, signal);
        await subject.backend.remove(ch, signal);
        await subject.backend.remove(ch, signal);
        expect(await subject.lookup(ch)).toEqual([]);
      }
    });

    test("removing a challenge never published is success", async () => {
      for (const kind of subject.backend.supportedKinds()) {
        await subject.backend.remove(sampleChallenge(kind, 7), signal);
        expect(await subject.lookup(sampleChallenge(kind, 7))).toEqual([]);
      }
    });

    test("two challenges at one name are both visible, and removing one leaves the other", async () => {
      for (const kind of subject.backend.supportedKinds()) {
        const [a, b] = sharedNameChallenges(kind);
        await subject.backend.publish(a, signal);
        await subject.backend.publish(b, signal);
        // A CA reads dns-01 by name, so both values are there; http-01 by token.
        const visible = (ch: DcvChallenge) => (kind === "dns-01" ? [responseOf(a), responseOf(b)].sort() : [responseOf(ch)]);
        expect((await subject.lookup(a)).sort()).toEqual(visible(a));
        expect((await subject.lookup(b)).sort()).toEqual(visible(b));
        await subject.backend.remove(a, signal);
        expect(await subject.lookup(a)).toEqual(kind === "dns-01" ? [responseOf(b)] : []);
        expect(await subject.lookup(b)).toEqual([responseOf(b)]);
        await subject.backend.remove(b, signal);
        expect(await subject.lookup(a)).toEqual([]);
        expect(await subject.lookup(b)).toEqual([]);
      }
    });

    test("publish with an aborted signal rejects as aborted and publishes nothing", async () => {
      const aborted = AbortSignal.abort(new Error("daemon stopping"));
      for (const kind of subject.backend.supportedKinds()) {
        const ch = sampleChallenge(kind);
        const err = await subject.backend.publish(ch, aborted).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(RotaError);
        expect((err as RotaError).code).toBe("aborted");
        expect(await subject.lookup(ch)).toEqual([]);
      }
    });

    test("remove works from the challenge alone and leaves other challenges in place", async () => {
      for (const kind of subject.backend.supportedKinds()) {
        const [a, b] = [sampleChallenge(kind, 1), sampleChallenge(kind, 2)];
        await subject.backend.publish(a, signal);
        await subject.backend.publish(b, signal);
        // A copy, as the journal hands it back after a crash: no shared object identity.
        await subject.backend.remove(JSON.parse(JSON.stringify(a)) as DcvChallenge, signal);
        expect(await subject.lookup(a)).toEqual([]);
        expect(await subject.lookup(b)).toEqual([responseOf(b)]);
        await subject.backend.remove(b, signal);
      }
    });
  });
}
