/** @module Crash-safe file writes: what a reader sees is the old file or the new one, never half of either. */
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, fchmodSync, fchownSync, mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

export interface AtomicWriteOptions {
  mode: number;
  uid?: number;
  gid?: number;
}

/**
 * Writes `data` to `path` atomically: a temp file in the same folder gets its mode
 * (and owner) before any data, is fsynced, renamed over `path`, and the folder is fsynced.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
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
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  fsyncDir(dir);
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
