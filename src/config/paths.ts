/**
 * @module Path facts shared by validation and the pre-start checks: the nearest existing
 * ancestor of a path, where it really leads (symlinks resolved), whether one path lies
 * inside another, and a filesystem error in plain words.
 */
import { realpathSync, statSync } from "node:fs";
import { constants } from "node:os";
import { getSystemErrorMessage } from "node:util";
import { dirname, join, relative, sep } from "node:path";
import { describeError } from "../errors.ts";

/** The closest of `p` and its ancestors that exists (followed through symlinks). */
export function nearestExisting(p: string): string | undefined {
  for (let at = p; ; at = dirname(at)) {
    try {
      statSync(at);
      return at;
    } catch {
      if (dirname(at) === at) return undefined;
    }
  }
}

/**
 * Where an absolute path really leads: its nearest existing ancestor with symlinks
 * resolved, and the rest as written. A path that does not exist yet still lands where
 * its symlinked parents point, which is where the daemon would create it.
 */
export function realPathOf(p: string): string {
  const base = nearestExisting(p);
  if (base === undefined) return p;
  try {
    return join(realpathSync(base), relative(base, p));
  } catch {
    return p;
  }
}

/** Whether absolute path `inner` is `outer` or lies under it, compared as written and as resolved. */
export function isWithin(inner: string, outer: string): boolean {
  return within(inner, outer) || within(realPathOf(inner), realPathOf(outer));
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
      return getSystemErrorMessage(errno);
    } catch {
      // Not an errno the OS knows: fall through to the message.
    }
  }
  return describeError(err);
}
