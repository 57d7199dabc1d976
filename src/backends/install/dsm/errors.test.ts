/** @module DSM's error codes in words, and which of them latch or need a new session. */
import { describe, expect, test } from "bun:test";
import { dsmErrorText, latches, sessionLost } from "./errors.ts";

describe("dsm error map", () => {
  test.each([
    [400, false, "wrong account or password", true],
    [401, false, "the account is disabled", true],
    [402, false, "permission denied (the account may not log in to DSM)", true],
    [403, false, "2-step verification code needed", true],
    [403, true, "device token rejected (expired or revoked)", true],
    [404, false, "wrong 2-step verification code", true],
    [405, false, "DSM error 405", false],
    [406, false, "2-step verification is enforced but not set up for this account", true],
    [407, false, "DSM auto block: too many failed logins from this address", false],
    [408, false, "the password has expired and must be changed", true],
    [410, false, "the password has expired and must be changed", true],
    [105, false, "the account is not an administrator (add it to the administrators group)", false],
    [119, false, "session invalid", false],
    [5599, false, "DSM error 5599", false],
  ])("%p (device token sent: %p): %p, latches: %p", (code, tokenSent, text, latch) => {
    expect(dsmErrorText(code, { tokenSent })).toBe(text);
    expect(latches(code)).toBe(latch);
  });

  test("106, 107 and 119 need a new session; nothing else does", () => {
    expect([105, 106, 107, 119, 400, 407].filter(sessionLost)).toEqual([106, 107, 119]);
  });
});
