/** @module When a cert's newest certificate is due for an ARI poll, and what an answer means for its plan. */
import { describe, expect, test } from "bun:test";
import type { CaAdvisor } from "../backends/types.ts";
import { createLogger } from "../log.ts";
import type { IssuedCert, RenewalPlan } from "../store/types.ts";
import { AriPoller, ariRecordOf, pollDue } from "./ari-poll.ts";

const now = new Date("2030-01-01T00:00:00Z");
const at = (h: number) => new Date(now.getTime() + h * 3_600_000);
const latest = { serial: "0a", notAfter: at(90 * 24) };
const plan = (nextPollH: number, serial = "0a"): RenewalPlan => ({
  certId: "www",
  serial,
  renewAt: at(60 * 24),
  reason: "ari",
  ari: { certId: "x.y", window: null, explanationUrl: null, polledAt: at(-1), nextPollAt: at(nextPollH), error: null },
});

describe("pollDue", () => {
  test("never asked, or asked about another certificate: now", () => {
    expect(pollDue(undefined, latest, now)).toBe(true);
    expect(pollDue(null, latest, now)).toBe(true);
    expect(pollDue({ ...plan(5), ari: null }, latest, now)).toBe(true);
    expect(pollDue(plan(5, "09"), latest, now)).toBe(true);
  });
  test("when its last answer said, not before", () => {
    expect(pollDue(plan(5), latest, now)).toBe(false);
    expect(pollDue(plan(0), latest, now)).toBe(true);
  });
  test("never after the certificate's notAfter", () => {
    expect(pollDue(null, { serial: "0a", notAfter: at(-1) }, now)).toBe(false);
    expect(pollDue(null, { serial: "0a", notAfter: now }, now)).toBe(false);
  });
});

describe("ariRecordOf", () => {
  test("an answer is kept as it came", () => {
    const answer = { ari: true as const, certId: "x.y", window: { start: at(1), end: at(2) }, explanationUrl: "https://ca/why", polledAt: now, nextPollAt: at(6), error: null };
    expect(ariRecordOf(answer, now, latest.notAfter)).toEqual({ certId: "x.y", window: answer.window, explanationUrl: "https://ca/why", polledAt: now, nextPollAt: at(6), error: null });
  });
  test("no ARI for the certificate: why, and asked again in a day (never past notAfter)", () => {
    expect(ariRecordOf({ ari: false, reason: "acme le: the directory offers no renewalInfo" }, now, latest.notAfter)).toEqual({
      certId: null,
      window: null,
      explanationUrl: null,
      polledAt: now,
      nextPollAt: at(24),
      error: "acme le: the directory offers no renewalInfo",
    });
    expect(ariRecordOf({ ari: false, reason: "no AKI" }, now, at(2)).nextPollAt).toEqual(at(2));
  });
});

describe("AriPoller", () => {
  test("at debug, a poll says whom it asked and what came back: a `rota renew` held by a CA that never answers is explained", async () => {
    const lines: string[] = [];
    const answer = { ari: true as const, certId: "x.y", window: { start: at(1), end: at(2) }, explanationUrl: null, polledAt: now, nextPollAt: at(6), error: null };
    const advisor = { poll: async () => answer } as unknown as CaAdvisor;
    const poller = new AriPoller(
      {
        advice: { advises: () => true, for: async () => advisor },
        store: { latestIssued: async () => ({ serial: "0a", leafPem: "", notAfter: latest.notAfter }) as IssuedCert },
        clock: { now: () => now } as never,
        log: createLogger({ level: "debug", format: "text", tty: false, write: (l) => lines.push(l) }),
        signal: new AbortController().signal,
      },
      () => {},
    );
    await poller.now("www", { name: "le", type: "acme", options: {} }, "0a");
    expect(lines.join("\n")).toContain("ari: www: asking ca le for renewal information (rota renew)");
    expect(lines.join("\n")).toContain(`ari: www: ca le: window ${at(1).toISOString()} to ${at(2).toISOString()} (`);
  });
});
