/** @module replaceFiles: a set of files changes together, or not at all; a failed write reports its own error, not its clean-up's. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lstatOrNull, replaceFiles, writeFileAtomic } from "./fsutil.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-fsutil-"));
  for (const n of ["a", "b", "c"]) writeFileSync(join(dir, n), `old ${n}`);
});
afterEach(() => {
  Bun.spawnSync(["chattr", "-i", join(dir, "c")]);
  Bun.spawnSync(["chattr", "-a", join(dir, "two")]);
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

// Append-only lets a folder take the new file and the backup link, then refuses the rename
// over its existing file (EPERM): a real failure after the first file was swapped.
test.skipIf(process.getuid?.() !== 0)("a rename that fails mid-swap restores the files already swapped and reports its own error", () => {
  const [one, two] = [join(dir, "one"), join(dir, "two")];
  mkdirSync(one);
  mkdirSync(two);
  writeFileSync(join(one, "a"), "old a");
  writeFileSync(join(two, "b"), "old b");
  const modeOfA = statSync(join(one, "a")).mode;
  expect(Bun.spawnSync(["chattr", "+a", two]).exitCode).toBe(0);
  let err: NodeJS.ErrnoException | undefined;
  try {
    replaceFiles([
      { path: join(one, "a"), data: "new a", mode: 0o640 },
      { path: join(two, "b"), data: "new b", mode: 0o640 },
    ]);
  } catch (e) {
    err = e as NodeJS.ErrnoException;
  }
  expect(err).toMatchObject({ code: "EPERM", syscall: "rename" });
  expect(err?.path).toStartWith(join(two, ".b."));
  expect(readFileSync(join(one, "a"), "utf8")).toBe("old a");
  expect(statSync(join(one, "a")).mode).toBe(modeOfA);
  expect(readdirSync(one)).toEqual(["a"]);
  expect(readFileSync(join(two, "b"), "utf8")).toBe("old b");
});

test.skipIf(process.getuid?.() !== 0)("writeFileAtomic refused at the rename reports the rename's error and leaves the file as it was", () => {
  const two = join(dir, "two");
  mkdirSync(two);
  writeFileSync(join(two, "b"), "old b");
  expect(Bun.spawnSync(["chattr", "+a", two]).exitCode).toBe(0);
  expect(() => writeFileAtomic(join(two, "b"), "new b", { mode: 0o640 })).toThrow(expect.objectContaining({ code: "EPERM", syscall: "rename" }));
  expect(readFileSync(join(two, "b"), "utf8")).toBe("old b");
});

test("lstatOrNull: what is at the path itself, a symlink not followed; null when nothing is", () => {
  symlinkSync(join(dir, "a"), join(dir, "link"));
  expect(lstatOrNull(join(dir, "link"))?.isSymbolicLink()).toBe(true);
  expect(lstatOrNull(join(dir, "a"))?.isFile()).toBe(true);
  expect(lstatOrNull(join(dir, "missing"))).toBeNull();
});
