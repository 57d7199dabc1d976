/** @module A cert's status from its last look, its failure state and the runner: the table of cases. */
import { describe, expect, test } from "bun:test";
import type { Decision } from "../scheduler/due.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import type { CertState } from "../store/types.ts";
import { certJson, statusNeedsState, type CertViewInput } from "./cert-view.ts";

const now = new Date("2030-01-01T00:00:00Z");
const later = new Date("2030-03-01T00:00:00Z");
const look = (decision: Decision | null, error: string | null = null): CertLook => ({
  decision,
  threshold: null, ari: null,
  error,
  targets: [],
  dueSince: decision?.action === "none" ? null : now,
  latestSerial: null,
});
const failing = (retryAt: Date | null): CertState => ({ certId: "www", consecutiveFailures: 2, retryAt, lastError: "acme le: boom", authzFailures: 0, haltedAt: null });
const halted: CertState = { certId: "www", consecutiveFailures: 5, retryAt: null, lastError: "acme le: authorization invalid", authzFailures: 5, haltedAt: now };
const input = (over: Partial<CertViewInput>): CertViewInput => ({
  id: "www",
  domains: ["www.example.com"],
  now,
  look: look({ action: "none", why: "lifetime", moment: null, reason: "ok", notAfter: later, newest: later }),
  busy: false,
  state: null,
  last: undefined,
  nodeFailure: null,
  nextTick: null,
  install: ["files"],
  typeOf: () => "filesystem",
  ...over,
});
const soon = new Date(now.getTime() + 900_000);

describe("status", () => {
  test.each([
    ["fine", {}, "ok"],
    ["fine, although its last (forced) renewal failed and is cooling down", { state: failing(soon) }, "ok"],
    ["renewing wins over everything", { busy: true, state: failing(soon) }, "renewing"],
    ["not looked at yet", { look: undefined }, "checking"],
    ["due", { look: look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: later }) }, "due"],
    ["targets disagree", { look: look({ action: "install", why: "lifetime", moment: null, reason: "stale", targets: ["files"], notAfter: later }) }, "due"],
    ["targets disagree and their install-only run failed, cooling down", { look: look({ action: "install", why: "lifetime", moment: null, reason: "stale", targets: ["files"], notAfter: later }), state: failing(soon) }, "cooldown"],
    ["targets disagree and their install-only run failed, the cooldown over", { look: look({ action: "install", why: "lifetime", moment: null, reason: "stale", targets: ["files"], notAfter: later }), state: failing(now) }, "failed"],
    ["nothing installed", { look: look({ action: "renew", why: "lifetime", moment: null, reason: "nothing installed", notAfter: null }) }, "missing"],
    ["due and the last attempt failed, cooling down", { look: look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: later }), state: failing(soon) }, "cooldown"],
    ["missing and the cooldown is over", { look: look({ action: "renew", why: "lifetime", moment: null, reason: "nothing installed", notAfter: null }), state: failing(now) }, "failed"],
    ["a target that cannot be read", { look: look(null, "files: cannot read") }, "unreadable"],
    ["a target that cannot be read, after a failed attempt", { look: look(null, "files: cannot read"), state: failing(soon) }, "unreadable"],
    ["due and halted after authorization failures", { look: look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: later }), state: halted }, "halted"],
    ["missing and halted", { look: look({ action: "renew", why: "lifetime", moment: null, reason: "nothing installed", notAfter: null }), state: halted }, "halted"],
    ["fine although halted by failed forced renewals", { state: halted }, "ok"],
    ["renewing (forced) while halted", { busy: true, look: look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: later }), state: halted }, "renewing"],
  ] as const)("%s: %s", (_, over, status) => {
    expect(certJson(input(over as Partial<CertViewInput>)).status).toBe(status);
  });

  test("a halted cert has no next check and no retry time", () => {
    const j = certJson(input({ look: look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: later }), state: halted, nextTick: soon }));
    expect([j.status, j.next_check, j.retry_at]).toEqual(["halted", null, null]);
  });

  test("the read error is in the JSON; a cert read fine has none", () => {
    expect(certJson(input({ look: look(null, "files: read-back timed out after 30 s") })).look_error).toBe("files: read-back timed out after 30 s");
    expect(certJson(input({})).look_error).toBeNull();
  });

  test("a fine cert still shows its retry time and its failed last renewal", () => {
    const j = certJson(input({ state: failing(soon) }));
    expect(j.retry_at).toBe(soon.toISOString());
    expect(j.due_since).toBeNull();
  });
});

describe("a look judged against the clock (no look could be taken since: the audit store's server away fails every sweep)", () => {
  const moment = { at: new Date(now.getTime() + 3600_000), reason: "lifetime" as const };
  const fine = look({ action: "none", why: "lifetime", moment, reason: "ok", notAfter: later, newest: later });
  const at = (t: Date) => input({ look: fine, now: t });

  test("holds until its renewal moment", () => {
    expect([certJson(at(now)).status, certJson(at(now)).due_since]).toEqual(["ok", null]);
  });

  test("past its renewal moment the cert is due since that moment, with its failure state counting", () => {
    const past = new Date(moment.at.getTime() + 1);
    expect([certJson(at(past)).status, certJson(at(past)).due_since]).toEqual(["due", moment.at.toISOString()]);
    expect(certJson({ ...at(past), state: failing(later) }).status).toBe("cooldown");
    expect(statusNeedsState(at(past))).toBe(true);
    expect(statusNeedsState(at(now))).toBe(false);
  });

  test("an expired certificate is never ok, even with no renewal moment known", () => {
    const bare = look({ action: "none", why: "lifetime", moment: null, reason: "ok", notAfter: later, newest: later });
    const j = certJson(input({ look: bare, now: new Date(later.getTime() + 3600_000) }));
    expect([j.status, j.due_since, j.days_left! < 0]).toEqual(["due", later.toISOString(), true]);
  });
});

describe("a cluster node that cannot install the stored certificate (refused: its own key; failed: its folder read-only)", () => {
  const syncRun = { id: "s1", certId: "www", trigger: "sync" as const, installOnly: true, reason: "files does not serve the newest certificate (serial 02)", status: "failed" as const, startedAt: now, finishedAt: now, error: "pipeline: /keys/www.key does not hold the key of certificate 02", node: "nas-4" };
  const failure = (retryAt: Date, serial = "02") => ({ serial, failures: 2, retryAt, refused: true, run: syncRun });
  const behind = (over: Partial<CertLook> = {}): CertLook => ({ ...look({ action: "install", why: "not_served", moment: null, reason: "files does not serve the newest certificate (serial 02)", targets: ["files"], notAfter: later }), latestSerial: "02", ...over });
  const leaderRun = { id: "r9", certId: "www", trigger: "scheduled" as const, installOnly: false, reason: null, status: "succeeded" as const, startedAt: now, finishedAt: now, error: null, node: "nas-1" };

  test("is the cert's state on this node: cooling down until its retry, then failed, with its own run as the last renewal", () => {
    const j = certJson(input({ look: behind(), nodeFailure: failure(soon), last: leaderRun }));
    expect([j.status, j.retry_at, j.next_check, j.last_renewal?.id, j.last_renewal?.error]).toEqual(["cooldown", soon.toISOString(), soon.toISOString(), "s1", syncRun.error]);
    expect(certJson(input({ look: behind(), nodeFailure: failure(now) })).status).toBe("failed");
  });

  test("counts only while installing that certificate is the work: a newer serial, a cert that renews or is fine are judged as before", () => {
    expect(certJson(input({ look: behind({ latestSerial: "03" }), nodeFailure: failure(soon), last: leaderRun })).status).toBe("due");
    expect(certJson(input({ look: behind({ latestSerial: "03" }), nodeFailure: failure(soon), last: leaderRun })).last_renewal?.id).toBe("r9");
    expect(certJson(input({ look: look({ action: "renew", why: "lifetime", moment: null, reason: "due", notAfter: later }), nodeFailure: failure(soon) })).status).toBe("due");
    expect(certJson(input({ nodeFailure: failure(soon) })).status).toBe("ok");
    expect(certJson(input({ look: behind(), nodeFailure: failure(soon), busy: true })).status).toBe("renewing");
  });
});

describe("renewal timing fields", () => {
  const tick = new Date(now.getTime() + 3600_000);
  const moment = (h: number) => ({ at: new Date(now.getTime() + h * 3600_000), reason: "lifetime" as const });
  const withMoment = (h: number, ari: CertLook["ari"] = null): CertLook => ({ ...look({ action: "none", why: "lifetime", moment: moment(h), reason: "ok", notAfter: later, newest: later }), ari });
  const ari = (nextPollH: number): CertLook["ari"] => ({
    certId: "aYhb.AIdl",
    window: { start: new Date(now.getTime() + 100 * 3600_000), end: new Date(now.getTime() + 110 * 3600_000) },
    explanationUrl: null,
    polledAt: now,
    nextPollAt: new Date(now.getTime() + nextPollH * 3600_000),
    error: null,
  });

  test("renew_at, renew_reason and ari_window come from the look", () => {
    const j = certJson(input({ look: withMoment(5, ari(6)), nextTick: tick }));
    expect(j.renew_at).toBe(moment(5).at.toISOString());
    expect(j.renew_reason).toBe("lifetime");
    expect(j.ari_window).toEqual({ start: "2030-01-05T04:00:00.000Z", end: "2030-01-05T14:00:00.000Z" });
    expect(certJson(input({ look: undefined })).renew_reason).toBeNull();
  });

  test("next_check: the soonest of the next sweep, the moment still ahead and the next ARI poll", () => {
    expect(certJson(input({ look: withMoment(5), nextTick: tick })).next_check).toBe(tick.toISOString());
    expect(certJson(input({ look: withMoment(0.5), nextTick: tick })).next_check).toBe(moment(0.5).at.toISOString());
    expect(certJson(input({ look: withMoment(5, ari(0.25)), nextTick: tick })).next_check).toBe(new Date(now.getTime() + 900_000).toISOString());
    // A moment already past is no check of its own: the sweep looks.
    expect(certJson(input({ look: withMoment(-1), nextTick: tick })).next_check).toBe(tick.toISOString());
  });

  test("next_check: none while renewing, the cooldown's end while cooling down", () => {
    expect(certJson(input({ look: withMoment(0.5), nextTick: tick, busy: true })).next_check).toBeNull();
    const due = look({ action: "renew", why: "lifetime", moment: moment(-1), reason: "due", notAfter: later });
    expect(certJson(input({ look: due, nextTick: tick, state: failing(new Date(now.getTime() + 7200_000)) })).next_check).toBe(new Date(now.getTime() + 7200_000).toISOString());
  });
});
