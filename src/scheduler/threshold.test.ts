/** @module Where a threshold comes from, and the thresholds a lifetime makes useless or wasteful. */
import { describe, expect, test } from "bun:test";
import { longThresholdWarning, resolveThreshold, thresholdProblem } from "./threshold.ts";

describe("resolveThreshold", () => {
  test("the cert's setting wins, then the daemon's; unset is null, not a default", () => {
    expect(resolveThreshold(10, 20)).toEqual({ days: 10, source: "cert" });
    expect(resolveThreshold(undefined, 20)).toEqual({ days: 20, source: "daemon" });
    expect(resolveThreshold(undefined, undefined)).toBeNull();
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
    expect(thresholdProblem({ days: 30, source: "daemon" }, ca)).toEqual({
      key: "ca",
      message: 'renewing 30 days before expiry (daemon) with ca "internal", which issues 7-day certificates, would renew at every check; lower renew_threshold_days or raise validity_days',
    });
  });
});

describe("longThresholdWarning", () => {
  test("speaks from half the lifetime on, naming the threshold, its source and the lifetime", () => {
    expect(longThresholdWarning({ days: 30, source: "daemon" }, 90)).toBeNull();
    expect(longThresholdWarning(null, 0.04)).toBeNull();
    expect(longThresholdWarning({ days: 30, source: "daemon" }, 1 / 24)).toBe(
      "renew_threshold_days = 30 (daemon) is at least half of this certificate's 0.04-day lifetime, so it renews at every check; remove it to renew at ½ of the lifetime",
    );
    expect(longThresholdWarning({ days: 3, source: "cert" }, 6)).toContain("(cert) is at least half of this certificate's 6.00-day lifetime");
  });
});
