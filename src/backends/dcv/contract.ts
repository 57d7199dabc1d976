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
   * every TXT value at the record name for dns-01, every CNAME target at the record name
   * for dns-cname; empty when nothing is published.
   */
  lookup(challenge: DcvChallenge): Promise<string[]>;
  cleanup?(): void | Promise<void>;
}

const ALL_KINDS: ChallengeKind[] = ["http-01", "dns-01", "dns-cname"];

/** A challenge of `kind`; `n` makes distinct ones (another name, token and value). */
export function sampleChallenge(kind: ChallengeKind, n = 1): DcvChallenge {
  switch (kind) {
    case "http-01":
      return { kind, domain: `host${n}.example.com`, token: `tok${n}_Zm9vYmFy-${n}`, keyAuthorization: `tok${n}_Zm9vYmFy-${n}.thumbprint${n}` };
    case "dns-01":
      return { kind, recordName: `_acme-challenge.host${n}.example.com`, recordValue: `dmFsdWUt${n}`, ttl: 60 };
    case "dns-cname":
      // Sectigo's shape: `_<MD5 of the CSR>.<domain>` → `<SHA-256 as two labels>.<unique>.sectigo.com`.
      return { kind, recordName: `_7f3a0${n}c2e9d1b4a6f8e0c3d5b7a9f1e2${n}.host${n}.example.com`, target: `1a2b${n}.c3d4${n}.u${n}.sectigo.com`, ttl: 60 };
  }
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
        { kind: "dns-01", recordName: `_acme-challenge.${domain}`, recordValue: "YXBleC1yZWNvcmQ", ttl: 60 },
        { kind: "dns-01", recordName: `_acme-challenge.${domain}`, recordValue: "d2lsZGNhcmQtcmVjb3Jk", ttl: 60 },
      ];
}

/** What the CA reads back when the challenge is published. */
function responseOf(ch: DcvChallenge): string {
  switch (ch.kind) {
    case "http-01":
      return ch.keyAuthorization;
    case "dns-01":
      return ch.recordValue;
    case "dns-cname":
      return ch.target;
  }
}

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
      // A CNAME owns its name: two at one name is the next case's refusal, not a set.
      for (const kind of subject.backend.supportedKinds().filter((k) => k !== "dns-cname")) {
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

    test("never overwrites another record at the name", async () => {
      if (!subject.backend.supportedKinds().includes("dns-cname")) return;
      const mine = sampleChallenge("dns-cname", 1);
      if (mine.kind !== "dns-cname") throw new Error("unreachable");
      const other: DcvChallenge = { ...mine, target: "9f8e.7d6c.other.sectigo.com" };
      await subject.backend.publish(mine, signal);
      const refused = await subject.backend.publish(other, signal).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(RotaError);
      expect((refused as RotaError).noRetry).toBe(true);
      expect(await subject.lookup(mine)).toEqual([mine.target]);
      // Removing the other target takes nothing away: remove deletes only a CNAME with its own target.
      await subject.backend.remove(other, signal);
      expect(await subject.lookup(mine)).toEqual([mine.target]);
      await subject.backend.remove(mine, signal);
      if (subject.backend.supportedKinds().includes("dns-01")) {
        // A TXT value at the name: the CNAME is refused and the value stays.
        const txt: DcvChallenge = { kind: "dns-01", recordName: mine.recordName, recordValue: "dHh0LXZhbHVl", ttl: 60 };
        await subject.backend.publish(txt, signal);
        await expect(subject.backend.publish(mine, signal)).rejects.toBeInstanceOf(RotaError);
        expect(await subject.lookup(txt)).toEqual(["dHh0LXZhbHVl"]);
        expect(await subject.lookup(mine)).toEqual([]);
        await subject.backend.remove(txt, signal);
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
