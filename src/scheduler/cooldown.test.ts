/** @module The failure cooldown: min(base · 2^(n−1), max), and a longer Retry-After from the CA wins. */
import { describe, expect, test } from "bun:test";
import { cooldownSeconds, RETRY_AFTER_MAX_SECONDS, type CooldownPolicy } from "./cooldown.ts";

const policy: CooldownPolicy = { baseSeconds: 900, maxSeconds: 86_400 };

describe("cooldownSeconds", () => {
  test.each([
    [1, 900],
    [2, 1_800],
    [3, 3_600],
    [4, 7_200],
    [5, 14_400],
    [6, 28_800],
    [7, 57_600],
    [8, 86_400],
  ])("failure %d waits %d s", (failures, seconds) => {
    expect(cooldownSeconds(failures, policy)).toBe(seconds);
  });

  test("the cap holds however many failures follow", () => {
    expect(cooldownSeconds(9, policy)).toBe(86_400);
    expect(cooldownSeconds(1_000, policy)).toBe(86_400);
    expect(cooldownSeconds(3, { baseSeconds: 60, maxSeconds: 100 })).toBe(100);
  });

  test("a Retry-After beyond a week is honoured as a week: a broken 10-year header must not outlive the certificate", () => {
    expect(RETRY_AFTER_MAX_SECONDS).toBe(604_800);
    expect(cooldownSeconds(1, policy, 315_360_000)).toBe(604_800);
    expect(cooldownSeconds(1, policy, 604_800)).toBe(604_800);
    expect(cooldownSeconds(1, policy, 300_000)).toBe(300_000);
  });

  test("zero failures counts as the first", () => {
    expect(cooldownSeconds(0, policy)).toBe(900);
  });

  test("a Retry-After longer than the backoff wins", () => {
    expect(cooldownSeconds(1, policy, 7_200)).toBe(7_200);
    // Even past the cap: the CA's word is a floor, not a suggestion.
    expect(cooldownSeconds(8, policy, 172_800)).toBe(172_800);
  });

  test("a Retry-After shorter than the backoff loses", () => {
    expect(cooldownSeconds(3, policy, 60)).toBe(3_600);
    expect(cooldownSeconds(1, policy, 0)).toBe(900);
  });
});
