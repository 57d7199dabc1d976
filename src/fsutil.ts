/** @module Crash-safe file writes: what a reader sees is the old file or the new one, never half of either. */
import { chmodSync, closeSync, existsSync, fchmodSync, fchownSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { RotaError } from "./errors.ts";

export interface AtomicWriteOptions {
  mode: number;
  uid?: number;
  gid?: number;
}

/** A temp file beside `path` holding `data`, with its mode (and owner) set before any data, fsynced. */
function writeTemp(path: string, data: string | Uint8Array, opts: AtomicWriteOptions): string {
  const tmp = join(dirname(path), `.${basename(path)}.${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", opts.mode & 0o600);
  try {
    fchmodSync(fd, opts.mode);
    if (opts.uid !== undefined || opts.gid !== undefined) fchownSync(fd, opts.uid ?? -1, opts.gid ?? -1);
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    removeQuietly(tmp);
    throw err;
  }
  closeSync(fd);
  return tmp;
}

/** Removes a temp file or backup link, best effort. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // The error that made this clean-up necessary is the one to report, and a folder that
    // refused the write may refuse the removal too: a stray dot-file is the lesser harm.
  }
}

/**
 * Writes `data` to `path` atomically: a temp file in the same folder is renamed over
 * `path`, and the folder is fsynced.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions): void {
  const tmp = writeTemp(path, data, opts);
  try {
    renameSync(tmp, path);
  } catch (err) {
    removeQuietly(tmp);
    throw err;
  }
  fsyncDir(dirname(path));
}

export interface FileToWrite extends AtomicWriteOptions {
  path: string;
  data: string | Uint8Array;
}

/**
 * Replaces several files in one folder as a set: either every file is new, or (on any
 * failure) every file is as it was. All new contents are staged first; the current files
 * are hard-linked aside, so a rename that fails halfway is rolled back from those links
 * (but for a file the writer may not link, which then stays new).
 * A symlink at any of the paths is refused before anything is written (`refuseSymlink`).
 */
export function replaceFiles(files: FileToWrite[]): void {
  // `backup` null: nothing was there (a rollback removes the new file), or `unlinkable`.
  const staged: Array<{ path: string; tmp: string; backup: string | null; unlinkable?: true }> = [];
  const cleanup = () => {
    for (const f of staged) {
      removeQuietly(f.tmp);
      if (f.backup) removeQuietly(f.backup);
    }
  };
  try {
    for (const f of files) refuseSymlink(f.path);
    for (const f of files) {
      const entry: (typeof staged)[number] = { path: f.path, tmp: writeTemp(f.path, f.data, f), backup: null };
      staged.push(entry);
      if (existsSync(f.path)) {
        const backup = `${entry.tmp}.old`;
        try {
          linkSync(f.path, backup);
          entry.backup = backup;
        } catch (err) {
          // fs.protected_hardlinks: a writer that is not root cannot link a file another user
          // owns, which is damage this write repairs (issue 5). The new file replaces it all
          // the same; only a rollback cannot bring that one back, and leaves the new one.
          if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
          entry.unlinkable = true;
        }
      }
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  const done: typeof staged = [];
  try {
    for (const f of staged) {
      renameSync(f.tmp, f.path);
      done.push(f);
    }
  } catch (err) {
    for (const f of done.reverse()) {
      if (f.backup) renameSync(f.backup, f.path);
      else if (!f.unlinkable) rmSync(f.path, { force: true });
    }
    cleanup();
    throw err;
  }
  cleanup();
  for (const dir of new Set(files.map((f) => dirname(f.path)))) fsyncDir(dir);
}

/**
 * Throws RotaError("symlink_refused") when `path` is a symlink; nothing there, or anything
 * else, passes. A privileged writer calls it before writing to or chowning a path someone
 * else may have planted a link at.
 */
export function refuseSymlink(path: string): void {
  let isLink = false;
  try {
    isLink = lstatSync(path).isSymbolicLink();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (isLink) throw new RotaError("symlink_refused", `${path} is a symlink; refusing to write through it`);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** mkdir -p; the folders it creates get exactly `mode`, whatever the process umask. */
export function ensureDir(dir: string, mode = 0o755): void {
  const first = mkdirSync(dir, { recursive: true, mode });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    chmodSync(d, mode);
    if (d === first || dirname(d) === d) break;
  }
}

/** What is at `path` itself (a symlink is not followed), or null when nothing is, or it cannot be looked at. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
