/**
 * @module parseRetryAfter: both forms RFC 9110 §10.2.3 allows (delay-seconds, HTTP-date),
 * and what it does with anything else.
 */
import { describe, expect, test } from "bun:test";
import { parseRetryAfter } from "./retry-after.ts";

const now = new Date("2030-01-01T00:00:00Z");

describe("parseRetryAfter", () => {
  test.each([
    ["120", 120],
    [" 120 ", 120],
    ["0", 0],
    ["86400", 86_400],
  ])("delay-seconds %p is %p s", (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });

  test.each([
    ["Tue, 01 Jan 2030 00:02:00 GMT", 120],
    // The obsolete RFC 850 and asctime forms a recipient must still accept.
    ["Tuesday, 01-Jan-30 00:02:00 GMT", 120],
    ["Tue Jan  1 00:02:00 2030", 120],
  ])("HTTP-date %p is %p s from now", (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });

  test("a date in the past means now, never a negative wait", () => {
    expect(parseRetryAfter("Mon, 31 Dec 2029 23:00:00 GMT", now)).toBe(0);
  });

  test("a date part-way through a second rounds up", () => {
    expect(parseRetryAfter(new Date(now.getTime() + 1_500).toUTCString(), new Date(now.getTime() + 500))).toBe(1);
    expect(parseRetryAfter("Tue, 01 Jan 2030 00:00:02 GMT", new Date(now.getTime() + 1))).toBe(2);
  });

  test.each(["soon", "", "   ", "10 seconds", "1e3", "12abc"])("garbage %p is no hint", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });

  test("a header that is not a string is no hint", () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter(120, now)).toBeUndefined();
    expect(parseRetryAfter(["120"], now)).toBeUndefined();
  });

  // Date.parse reads "-5", "1.5" and "4 5" as dates in the past: they must be no hint, not a wait of 0.
  test.each(["-5", "1.5", "4 5"])("number-like garbage %p is no hint", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
