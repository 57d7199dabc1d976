/**
 * @module Path facts shared by validation and the pre-start checks: the nearest existing
 * ancestor of a path, where it really leads (symlinks resolved), whether one path lies
 * inside another, and a filesystem error in plain words.
 */
import { realpathSync, statSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { describeError } from "../errors.ts";

/**
 * What the functions below found for each path during one synchronous pass over many paths
 * (the start's check of thousands of key paths in one folder, issue 11): each folder is
 * looked up and resolved once, not once per path. Made for that pass alone: the filesystem
 * may change after it.
 */
export class PathMemo {
  readonly nearest = new Map<string, string | undefined>();
  readonly real = new Map<string, string>();
}

/** The closest of `p` and its ancestors that exists (followed through symlinks). */
export function nearestExisting(p: string, memo?: PathMemo): string | undefined {
  if (memo?.nearest.has(p)) return memo.nearest.get(p);
  let found: string | undefined;
  try {
    statSync(p);
    found = p;
  } catch {
    found = dirname(p) === p ? undefined : nearestExisting(dirname(p), memo);
  }
  memo?.nearest.set(p, found);
  return found;
}

/**
 * Where an absolute path really leads: its nearest existing ancestor with symlinks
 * resolved, and the rest as written. A path that does not exist yet still lands where
 * its symlinked parents point, which is where the daemon would create it.
 */
export function realPathOf(p: string, memo?: PathMemo): string {
  const base = nearestExisting(p, memo);
  if (base === undefined) return p;
  let real = memo?.real.get(base);
  if (real === undefined) {
    try {
      real = realpathSync(base);
    } catch {
      return p;
    }
    memo?.real.set(base, real);
  }
  return join(real, relative(base, p));
}

/** Whether absolute path `inner` is `outer` or lies under it, compared as written and as resolved. */
export function isWithin(inner: string, outer: string, memo?: PathMemo): boolean {
  return within(inner, outer) || within(realPathOf(inner, memo), realPathOf(outer, memo));
}

function within(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`));
}

/** "read-only file system" for EROFS: the OS's words for the error's errno, else its message and causes. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const byCode = typeof e?.code === "string" ? (constants.errno as Record<string, number | undefined>)[e.code] : undefined;
  const errno = typeof e?.errno === "number" ? e.errno : byCode === undefined ? undefined : -byCode;
  if (errno !== undefined && errno < 0) {
    try {
      // Required here, not imported: `node:util` is some 5 ms of a start, and only an error needs it.
      return (require("node:util") as typeof import("node:util")).getSystemErrorMessage(errno);
    } catch {
      // Not an errno the OS knows: fall through to the message.
    }
  }
  return describeError(err);
}
