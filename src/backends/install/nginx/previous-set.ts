/**
 * @module The files of one cert as they were before a swap, kept in memory until nginx has
 * taken the new ones, and put back byte for byte (mode and owner too) when it has not.
 */
import { lstatSync, readFileSync, rmSync } from "node:fs";
import { RotaError } from "../../../errors.ts";
import { replaceFiles, type FileToWrite } from "../../../fsutil.ts";

export interface PreviousSet {
  /** None of the files existed (a first install): restoring removes the new ones. */
  readonly none: boolean;
  /** Puts every file back as it was; one that did not exist is removed. */
  restore(): void;
}

/** Reads `paths` now. A symlink at one is refused, as the filesystem backend refuses to write through it. */
export function keepPrevious(paths: string[]): PreviousSet {
  const kept: FileToWrite[] = [];
  const absent: string[] = [];
  const asRoot = process.getuid?.() === 0;
  for (const path of paths) {
    let s;
    try {
      s = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      absent.push(path);
      continue;
    }
    if (s.isSymbolicLink()) throw new RotaError("symlink_refused", `${path} is a symlink; refusing to write through it`);
    // Only root can give a file back to another owner; anyone else wrote it as themselves.
    kept.push({ path, data: readFileSync(path), mode: s.mode & 0o7777, ...(asRoot && { uid: s.uid, gid: s.gid }) });
  }
  return {
    none: kept.length === 0,
    restore() {
      if (kept.length > 0) replaceFiles(kept);
      for (const path of absent) rmSync(path, { force: true });
    },
  };
}
