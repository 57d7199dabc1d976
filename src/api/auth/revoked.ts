/**
 * @module Logged-out sessions, kept until their cookies expire. A session cookie carries
 * its own expiry, so a copy taken before logout would work again the moment its id is
 * forgotten: the ids outlive a rebuilt `Sessions` (a reload) in memory and a restart in
 * `<state_dir>/http/revoked.json`, written at logout only and read once, at the start.
 */
import { closeSync, constants, openSync, readFileSync } from "node:fs";
import { describeError } from "../../errors.ts";
import { writeFileAtomic } from "../../fsutil.ts";
import type { Logger } from "../../log.ts";

/** The shape of a session id as `Sessions.issue()` makes it: 16 random bytes, base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

/** Where the ids are written, and where a failed write is reported. */
export interface RevokedFile {
  path: string;
  log: Logger;
}

export class RevokedSessions {
  /** Session id → the end of its cookie's life, in ms since the epoch. */
  private readonly ids: Map<string, number>;

  /** `file` null: in memory only (tests, and sessions nobody needs to keep across restarts). */
  constructor(
    private readonly file: RevokedFile | null = null,
    ids: ReadonlyMap<string, number> = new Map(),
  ) {
    this.ids = new Map(ids);
  }

  /** True when the session was logged out. Reads memory only: this runs on every signed-in request. */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /**
   * Ends session `id` until `expiresMs` and writes every live revocation to the file (those
   * past `nowMs` are dropped: their cookies fail on their expiry alone). A failed write is
   * logged, not thrown: the logout still holds until the daemon restarts.
   */
  add(id: string, expiresMs: number, nowMs: number): void {
    for (const [known, exp] of this.ids) if (exp <= nowMs) this.ids.delete(known);
    this.ids.set(id, expiresMs);
    if (!this.file) return;
    try {
      writeRevoked(this.file.path, this.ids);
    } catch (err) {
      this.file.log.error(`http: cannot record a logout in ${this.file.path}: ${describeError(err)}; it holds until the daemon restarts`);
    }
  }
}

/** Replaces the file with `ids`, 0600: `{"version":1,"sessions":{"<id>":<expiry, unix seconds>}}`. */
export function writeRevoked(path: string, ids: ReadonlyMap<string, number>): void {
  const sessions: Record<string, number> = {};
  for (const [id, exp] of ids) sessions[id] = Math.ceil(exp / 1000);
  writeFileAtomic(path, `${JSON.stringify({ version: 1, sessions })}\n`, { mode: 0o600 });
}

/**
 * The revocations in `path` still in force at `nowMs`, or the reason they cannot be
 * trusted: missing, unreadable, or not what `writeRevoked` writes. A symlink is refused
 * (O_NOFOLLOW) like the session key.
 */
export function readRevoked(path: string, nowMs: number): Map<string, number> | { problem: string } {
  let text: string;
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return { problem: (err as NodeJS.ErrnoException).code === "ENOENT" ? "is missing" : `cannot be read (${describeError(err)})` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { problem: "is not valid JSON" };
  }
  const sessions = (doc as { version?: unknown; sessions?: unknown } | null)?.sessions;
  if ((doc as { version?: unknown } | null)?.version !== 1 || typeof sessions !== "object" || sessions === null || Array.isArray(sessions)) {
    return { problem: 'is not a {"version":1,"sessions":{…}} document' };
  }
  const ids = new Map<string, number>();
  for (const [id, exp] of Object.entries(sessions)) {
    if (!SESSION_ID.test(id) || !Number.isSafeInteger(exp) || (exp as number) < 0) return { problem: `holds an entry that is not a session id and its expiry (${JSON.stringify(id.slice(0, 40))})` };
    if ((exp as number) * 1000 > nowMs) ids.set(id, (exp as number) * 1000);
  }
  return ids;
}
