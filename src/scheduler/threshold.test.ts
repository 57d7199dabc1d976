/** @module Where a threshold comes from, and the thresholds a CA's lifetime makes useless. */
import { describe, expect, test } from "bun:test";
import { DEFAULT_RENEW_THRESHOLD_DAYS, resolveThreshold, shortLivedHint, thresholdProblem } from "./threshold.ts";

describe("resolveThreshold", () => {
  test("the cert's setting wins, then the daemon's, then the default", () => {
    expect(resolveThreshold(10, 20)).toEqual({ days: 10, source: "cert" });
    expect(resolveThreshold(undefined, 20)).toEqual({ days: 20, source: "daemon" });
    expect(resolveThreshold(undefined, undefined)).toEqual({ days: DEFAULT_RENEW_THRESHOLD_DAYS, source: "default" });
  });

  test("zero is a setting, not an absence", () => {
    expect(resolveThreshold(0, 20)).toEqual({ days: 0, source: "cert" });
    expect(resolveThreshold(undefined, 0)).toEqual({ days: 0, source: "daemon" });
  });
});

describe("thresholdProblem", () => {
  const ca = { name: "internal", lifetimeDays: 7 };
  test("a threshold shorter than the lifetime is fine", () => {
    expect(thresholdProblem({ days: 6, source: "cert" }, ca)).toBeNull();
  });
  test("the cert's own threshold is blamed on its key, an inherited one on the ca", () => {
    expect(thresholdProblem({ days: 7, source: "cert" }, ca)?.key).toBe("renew_threshold_days");
    expect(thresholdProblem({ days: 30, source: "default" }, ca)).toEqual({
      key: "ca",
      message: 'renewing 30 days before expiry (default) with ca "internal", which issues 7-day certificates, would renew at every check; lower renew_threshold_days or raise validity_days',
    });
  });
});

test("shortLivedHint speaks only when the certificate lives no longer than the threshold", () => {
  expect(shortLivedHint(90, { days: 30, source: "daemon" })).toBe("");
  expect(shortLivedHint(7, { days: 30, source: "daemon" })).toBe("; the certificate lives only 7.00 days, so it renews at every check: lower renew_threshold_days");
});
