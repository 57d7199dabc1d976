/** @module keepLook: the last look is kept only while every field but the reason says the same; the reason is the fresh one's. */
import { expect, test } from "bun:test";
import type { CertSummary } from "../crypto/summary.ts";
import type { Decision } from "./due.ts";
import type { CertLook } from "./scheduler.ts";
import { keepLook } from "./same-look.ts";

const summary = (serial = "0a"): CertSummary => ({ serial, notBefore: new Date(0), notAfter: new Date(90 * 86_400_000), keyType: "ecdsa-p256", names: ["www.example.com"] });
const decision = (reason = "ok: 63.12 days left"): Decision => ({ action: "none", reason, why: "lifetime", moment: { at: new Date(60 * 86_400_000), reason: "lifetime" }, notAfter: new Date(90 * 86_400_000), newest: new Date(90 * 86_400_000) });
const look = (over: Partial<CertLook> = {}): CertLook => ({
  decision: decision(),
  threshold: null,
  ari: null,
  error: null,
  targets: [{ target: "files", installed: summary() }],
  dueSince: null,
  latestSerial: "0a",
  ...over,
});

test("the same look, built afresh: the last one is kept, with the fresh reason", () => {
  const before = look();
  const kept = keepLook(before, look({ decision: decision("ok: 63.11 days left") }));
  expect(kept).toBe(before);
  expect(kept.decision?.reason).toBe("ok: 63.11 days left");
  expect(keepLook(undefined, before)).toBe(before);
});

test("any other field that differs gives the fresh look", () => {
  const changes: Partial<CertLook>[] = [
    { error: "files: read-back timed out after 30 s" },
    { latestSerial: "0b" },
    { dueSince: new Date(1) },
    { threshold: { days: 30, source: "daemon" } },
    { ari: { certId: null, window: null, explanationUrl: null, polledAt: new Date(0), nextPollAt: new Date(1), error: null } },
    { decision: null },
    { decision: { ...decision(), action: "renew", why: "changed" } },
    { decision: { ...decision(), moment: { at: new Date(61 * 86_400_000), reason: "lifetime" } } },
    { decision: { ...decision(), moment: { at: new Date(60 * 86_400_000), reason: "ari" } } },
    { decision: { ...decision(), notAfter: new Date(91 * 86_400_000) } },
    { targets: [] },
    { targets: [{ target: "files", installed: summary("0b") }] },
    { targets: [{ target: "files", installed: { ...summary(), names: ["api.example.com"] } }] },
    { targets: [{ target: "files", installed: { ...summary(), keyType: "rsa-2048" } }] },
    { targets: [{ target: "files", installed: null, damaged: "privkey.pem is missing" }] },
    { targets: [{ target: "files", installed: summary(), unverified: "127.0.0.1:443: connect ECONNREFUSED" }] },
    { targets: [{ target: "files", installed: summary(), servedAt: "127.0.0.1:443" }] },
    { targets: [{ target: "other", installed: summary() }] },
  ];
  for (const change of changes) {
    const fresh = look(change);
    expect(keepLook(look(), fresh)).toBe(fresh);
  }
  const install = (targets: string[]): Decision => ({ ...decision(), action: "install", targets, why: "stale", notAfter: new Date(90 * 86_400_000) });
  const fresh = look({ decision: install(["files", "nginx"]) });
  expect(keepLook(look({ decision: install(["files"]) }), fresh)).toBe(fresh);
});
