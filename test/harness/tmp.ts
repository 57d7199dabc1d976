/** @module Scratch directories for tests that servers running as other users can read. */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";

/**
 * A fresh directory under os.tmpdir(), mode 0755. nginx started as root runs its
 * workers as `nobody`; mkdtemp's 0700 turns every challenge GET into a 403.
 * (A TMPDIR inside a 0700 directory has the same effect one level up.)
 */
export function makeTempDir(prefix = "rota-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * Removes a directory made by makeTempDir. Refuses paths outside os.tmpdir() so a
 * bad variable cannot wipe the repo. Clears the immutable bit (tests use `chattr +i`
 * to provoke write failures) when a plain removal is refused.
 */
export function removeTempDir(dir: string): void {
  const abs = resolve(dir);
  const root = resolve(tmpdir()) + sep;
  if (!abs.startsWith(root)) throw new Error(`tmp: refusing to remove ${abs}: not under ${root}`);
  try {
    rmSync(abs, { recursive: true, force: true });
  } catch {
    Bun.spawnSync(["chattr", "-R", "-i", abs], { stdout: "ignore", stderr: "ignore" });
    rmSync(abs, { recursive: true, force: true });
  }
}
