/** @module afterFailure: the cooldown each kind of failure gets, the authorization count, and the halt it leads to. */
import { describe, expect, test } from "bun:test";
import { RotaError } from "../errors.ts";
import type { CertState } from "../store/types.ts";
import { afterFailure, failureKind, haltNote } from "./failure.ts";

const NOW = new Date("2030-01-01T00:00:00Z");
const POLICY = { baseSeconds: 900, maxSeconds: 86_400, maxAuthzFailures: 3 };
const later = (s: number) => new Date(NOW.getTime() + s * 1000);
const state = (over: Partial<CertState> = {}): CertState => ({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null, ...over });
const authz = () => new RotaError("authz_invalid", "acme le: authorization invalid: connection refused");
const after = (prev: CertState | null, err: unknown) => afterFailure(prev, "www", err, "the error", POLICY, NOW);

describe("failureKind", () => {
  test.each([
    [new RotaError("rate_limited", "x", { retryAfterSeconds: 120 }), "rate_limited"],
    [new RotaError("unavailable", "x"), "rate_limited"],
    [authz(), "authz_invalid"],
    [new RotaError("network", "x", { noRetry: true }), "no_retry"],
    [new RotaError("profile_not_offered", "x", { noRetry: true }), "no_retry"],
    [new RotaError("binary_replaced", "rota was replaced while the daemon runs (daemon 0.1.0, binary 0.2.0): restart the daemon"), "restart"],
    [new RotaError("validation_failed", "x"), "other"],
    [new Error("plain"), "other"],
  ] as const)("%p is %s", (err, kind) => expect(failureKind(err)).toBe(kind));
});

describe("afterFailure", () => {
  test("a plain failure backs off and counts no authorization failure", () => {
    expect(after(state({ consecutiveFailures: 1 }), new RotaError("ca_error", "x"))).toEqual({
      state: state({ consecutiveFailures: 2, retryAt: later(1800), lastError: "the error" }),
      halted: false,
    });
  });

  test("a rate limit waits the longer of backoff and Retry-After, and never counts toward a halt", () => {
    const prev = state({ consecutiveFailures: 4, authzFailures: 2 });
    expect(after(prev, new RotaError("rate_limited", "x", { retryAfterSeconds: 120 })).state).toMatchObject({ retryAt: later(14_400), authzFailures: 2, haltedAt: null });
    expect(after(null, new RotaError("rate_limited", "x", { retryAfterSeconds: 7200 })).state).toMatchObject({ retryAt: later(7200), authzFailures: 0 });
    expect(after(null, new RotaError("unavailable", "x", { retryAfterSeconds: 3600 })).state.retryAt).toEqual(later(3600));
  });

  test("noRetry waits failure_cooldown_max_seconds from the first failure, or a longer Retry-After", () => {
    expect(after(null, new RotaError("network", "acme le: self-signed certificate", { noRetry: true })).state.retryAt).toEqual(later(86_400));
    expect(after(null, new RotaError("x", "x", { noRetry: true, retryAfterSeconds: 100_000 })).state.retryAt).toEqual(later(100_000));
    expect(after(null, new RotaError("x", "x", { noRetry: true, retryAfterSeconds: 315_360_000 })).state.retryAt).toEqual(later(604_800));
    expect(after(null, new RotaError("rate_limited", "x", { retryAfterSeconds: 315_360_000 })).state.retryAt).toEqual(later(604_800));
  });

  test("authorization failures count up to max_authz_failures, then halt with no retry time", () => {
    let prev: CertState | null = null;
    const seen: Array<[number, boolean, Date | null]> = [];
    for (let i = 0; i < 3; i++) {
      const r = after(prev, authz());
      seen.push([r.state.authzFailures, r.halted, r.state.retryAt]);
      prev = r.state;
    }
    expect(seen).toEqual([
      [1, false, later(900)],
      [2, false, later(1800)],
      [3, true, null],
    ]);
    expect(prev).toEqual(state({ consecutiveFailures: 3, retryAt: null, lastError: "the error", authzFailures: 3, haltedAt: NOW }));
  });

  test("other failures in between neither reset the count nor halt", () => {
    const mid = after(state({ consecutiveFailures: 2, authzFailures: 2 }), new RotaError("network", "x"));
    expect(mid).toMatchObject({ halted: false, state: { authzFailures: 2, haltedAt: null } });
    expect(after(mid.state, authz())).toMatchObject({ halted: true, state: { authzFailures: 3 } });
  });

  test("after --force cleared a halt, the next authorization failure halts again at once", () => {
    const resumed = state({ consecutiveFailures: 3, authzFailures: 3, haltedAt: null });
    expect(after(resumed, authz())).toMatchObject({ halted: true, state: { authzFailures: 4, haltedAt: NOW, retryAt: null } });
  });

  test("a failure never clears a halt", () => {
    const halted = state({ consecutiveFailures: 3, authzFailures: 3, haltedAt: later(-60) });
    expect(after(halted, new RotaError("network", "x"))).toMatchObject({ halted: false, state: { haltedAt: later(-60), retryAt: null } });
  });
});

test("haltNote says how many, and what to do", () => {
  expect(haltNote("www", 5)).toBe("stopped retrying after 5 authorization failures in a row: fix its DCV, then rota renew www --force");
});
