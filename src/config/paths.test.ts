import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isWithin, nearestExisting, PathMemo, realPathOf } from "./paths.ts";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "rota-paths-")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a pass with a memo gives the answers of one path at a time, however many paths share a folder", () => {
  mkdirSync(join(dir, "keys"));
  mkdirSync(join(dir, "real"));
  symlinkSync(join(dir, "real"), join(dir, "link"));
  writeFileSync(join(dir, "keys", "a.key"), "k");
  const paths = [
    join(dir, "keys", "a.key"),
    join(dir, "keys", "b.key"),
    join(dir, "keys", "c.key"),
    join(dir, "absent", "deeper", "x.key"),
    join(dir, "link", "y.key"),
    join(dir, "link"),
    "/",
    "/proc/self/z",
  ];
  const memo = new PathMemo();
  for (let pass = 0; pass < 2; pass++) {
    for (const p of paths) {
      expect(nearestExisting(p, memo)).toBe(nearestExisting(p));
      expect(realPathOf(p, memo)).toBe(realPathOf(p));
      for (const outer of ["/proc", join(dir, "real"), join(dir, "keys")]) expect(isWithin(p, outer, memo)).toBe(isWithin(p, outer));
    }
  }
  expect(realPathOf(join(dir, "link", "y.key"), memo)).toBe(join(dir, "real", "y.key"));
  expect(nearestExisting(join(dir, "absent", "deeper", "x.key"), memo)).toBe(dir);
  // Each folder resolved once for the whole pass.
  expect(memo.real.size).toBeLessThanOrEqual(new Set(paths.map((p) => nearestExisting(p))).size + 3);
});
