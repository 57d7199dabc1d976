/** @module internAll(): one string per text in the copies `Scheduler.compact()` keeps. */
import { expect, test } from "bun:test";
import { intern, internAll, type Texts } from "./intern.ts";

// Two strings of one text cannot be told apart from JavaScript: what is checked is the values and the table.
test("internAll replaces each string in plain objects and arrays by the first of its text, leaves Dates and values as they were", () => {
  const texts: Texts = new Map();
  const first = intern(texts, "files");
  const at = new Date(5);
  const value = { action: "none", targets: [{ target: "files", at }], n: 3, missing: null, nested: { names: ["a.example", "files"] } };
  const copy = structuredClone(value);
  expect(internAll(texts, copy)).toBe(copy);
  expect(copy).toEqual(value);
  expect(copy.targets[0]!.at).toBeInstanceOf(Date);
  expect([...texts.keys()].sort()).toEqual(["a.example", "files", "none"]);
  expect(texts.get("files")).toBe(first);
});

test("intern hands back the first string met for a text", () => {
  const texts: Texts = new Map();
  expect(intern(texts, "lifetime")).toBe("lifetime");
  expect(texts.size).toBe(1);
  intern(texts, ["life", "time"].join(""));
  expect(texts.size).toBe(1);
});

test("a class instance is left whole; a shared object is visited without harm", () => {
  class Kept {
    label = "kept";
  }
  const texts: Texts = new Map();
  const shared = { serial: "01ab" };
  const kept = new Kept();
  const value = { a: shared, b: shared, kept };
  internAll(texts, value);
  expect(value.a).toBe(value.b);
  expect(value.kept).toBe(kept);
  expect(texts.has("kept")).toBe(false);
  expect([...texts.keys()]).toEqual(["01ab"]);
});
