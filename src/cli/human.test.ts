/** @module Relative times and domain cutting, word for word. */
import { describe, expect, test } from "bun:test";
import { bothForms, fitDomains, relativeTime, timeCell } from "./human.ts";

const NOW = new Date("2030-01-01T00:00:00Z");
const after = (ms: number) => new Date(NOW.getTime() + ms);
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;

describe("relativeTime", () => {
  const cases: Array<[number, string]> = [
    [0, "now"],
    [999, "now"],
    [-999, "now"],
    [42 * S, "in 42 s"],
    [-42 * S, "42 s ago"],
    [59 * S + 999, "in 59 s"],
    [MIN, "in 1 min"],
    [5 * MIN + 30 * S, "in 5 min"],
    [-59 * MIN, "59 min ago"],
    [H, "in 1 h"],
    [-3 * H - 59 * MIN, "3 h ago"],
    [47 * H + 59 * MIN, "in 47 h"],
    [2 * D, "in 2 d"],
    [59 * D + 23 * H, "in 59 d"],
    [-400 * D, "400 d ago"],
  ];
  for (const [ms, text] of cases) test(`${ms} ms is "${text}"`, () => expect(relativeTime(after(ms), NOW)).toBe(text));
});

test("timeCell: relative, ISO with --utc, a dash for none", () => {
  expect(timeCell(after(5 * MIN).toISOString(), NOW, false)).toBe("in 5 min");
  expect(timeCell("2030-03-01T00:00:00.000Z", NOW, true)).toBe("2030-03-01T00:00:00.000Z");
  expect(timeCell(null, NOW, false)).toBe("-");
});

describe("fitDomains", () => {
  const names = ["a.example", "bb.example", "ccc.example"];
  test("all of them when they fit, or with no width", () => {
    expect(fitDomains(names, 32)).toBe("a.example,bb.example,ccc.example");
    expect(fitDomains(names, undefined)).toBe("a.example,bb.example,ccc.example");
  });
  test("as many as fit, then +N", () => {
    expect(fitDomains(names, 31)).toBe("a.example,bb.example +1");
    expect(fitDomains(names, 23)).toBe("a.example,bb.example +1");
    expect(fitDomains(names, 22)).toBe("a.example +2");
  });
  test("the first name whole even when it alone is too wide", () => {
    expect(fitDomains(names, 3)).toBe("a.example +2");
    expect(fitDomains(["a.example"], 3)).toBe("a.example");
  });
});

test("bothForms: a Unicode name beside its A-label, other names once", () => {
  expect(bothForms(["xn--bcher-kva.example", "*.xn--bcher-kva.example", "www.example", "192.0.2.1"], ["bücher.example", "*.bücher.example", "www.example", "192.0.2.1"])).toEqual([
    "xn--bcher-kva.example (bücher.example)",
    "*.xn--bcher-kva.example (*.bücher.example)",
    "www.example",
    "192.0.2.1",
  ]);
});
