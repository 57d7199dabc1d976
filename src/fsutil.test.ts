/** @module replaceFiles: a set of files changes together, or not at all. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replaceFiles } from "./fsutil.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-fsutil-"));
  for (const n of ["a", "b", "c"]) writeFileSync(join(dir, n), `old ${n}`);
});
afterEach(() => {
  Bun.spawnSync(["chattr", "-i", join(dir, "c")]);
  rmSync(dir, { recursive: true, force: true });
});

const contents = () => ["a", "b", "c"].map((n) => readFileSync(join(dir, n), "utf8"));
const files = (names: string[]) => names.map((n) => ({ path: join(dir, n), data: `new ${n}`, mode: 0o640 }));

test("every file is replaced, with its mode, and nothing is left beside them", () => {
  replaceFiles(files(["a", "b", "c", "d"]));
  expect(contents()).toEqual(["new a", "new b", "new c"]);
  expect(readFileSync(join(dir, "d"), "utf8")).toBe("new d");
  expect(statSync(join(dir, "a")).mode & 0o777).toBe(0o640);
  expect(readdirSync(dir).sort()).toEqual(["a", "b", "c", "d"]);
});

test("a file that cannot be replaced leaves all of them as they were", () => {
  expect(Bun.spawnSync(["chattr", "+i", join(dir, "c")]).exitCode).toBe(0);
  expect(() => replaceFiles(files(["a", "b", "c"]))).toThrow();
  expect(contents()).toEqual(["old a", "old b", "old c"]);
  expect(readdirSync(dir).sort()).toEqual(["a", "b", "c"]);
});

test("a folder where the last file should go: nothing changes, and no new file is left", () => {
  mkdirSync(join(dir, "z"));
  writeFileSync(join(dir, "z", "keep"), "x");
  expect(() => replaceFiles(files(["a", "new", "b", "z"]))).toThrow();
  expect(contents()).toEqual(["old a", "old b", "old c"]);
  expect(readdirSync(dir).sort()).toEqual(["a", "b", "c", "z"]);
  expect(readFileSync(join(dir, "z", "keep"), "utf8")).toBe("x");
});
