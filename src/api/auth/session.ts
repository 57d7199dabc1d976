/**
 * @module Browser sessions: signed cookies that carry their own expiry, so they survive
 * a daemon restart with no session table. The MAC key mixes the session key file with
 * the API token's hash: a new token invalidates every session at once.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../../clock.ts";
import { RotaError } from "../../errors.ts";
import { ensureDir } from "../../fsutil.ts";

export const SESSION_COOKIE = "rota_session";
const KEY_BYTES = 32;
const VERSION = "v1";

export interface Session {
  id: string;
  expires: Date;
  /** What a state-changing request made with this session must echo (X-CSRF-Token or `_csrf`). */
  csrf: string;
}

const b64url = (b: Buffer) => b.toString("base64url");

export class Sessions {
  private readonly mac: Buffer;
  /** Logged-out ids until their expiry: a cookie copied before logout must not outlive it. Lost on restart, like the cookie's owner's tab. */
  private readonly revoked = new Map<string, number>();

  constructor(
    sessionKey: Buffer,
    token: string,
    private readonly hours: number,
    private readonly clock: Clock,
  ) {
    this.mac = createHmac("sha256", sessionKey).update(createHash("sha256").update(token).digest()).digest();
  }

  issue(): { cookie: string; session: Session } {
    const id = b64url(randomBytes(16));
    const exp = Math.floor(this.clock.now().getTime() / 1000) + this.hours * 3600;
    const body = `${VERSION}.${id}.${exp}`;
    return { cookie: `${body}.${this.sign(body)}`, session: { id, expires: new Date(exp * 1000), csrf: this.csrfFor(id) } };
  }

  /** The session a cookie value stands for, or null when it is malformed, forged, signed under another token or key, expired, or logged out. */
  verify(cookie: string | undefined): Session | null {
    if (!cookie || cookie.length > 200) return null;
    const parts = cookie.split(".");
    if (parts.length !== 4 || parts[0] !== VERSION) return null;
    const [, id, expText, mac] = parts as [string, string, string, string];
    if (!/^\d{1,12}$/.test(expText)) return null;
    const expected = Buffer.from(this.sign(`${VERSION}.${id}.${expText}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const exp = Number(expText) * 1000;
    const now = this.clock.now().getTime();
    if (exp <= now) return null;
    this.forgetExpired(now);
    if (this.revoked.has(id)) return null;
    return { id, expires: new Date(exp), csrf: this.csrfFor(id) };
  }

  revoke(s: Session): void {
    this.revoked.set(s.id, s.expires.getTime());
  }

  /** True when `presented` is the session's CSRF token. */
  csrfMatches(s: Session, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = Buffer.from(presented);
    const b = Buffer.from(s.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private csrfFor(id: string): string {
    return this.sign(`csrf.${id}`);
  }

  private sign(text: string): string {
    return b64url(createHmac("sha256", this.mac).update(text).digest());
  }

  private forgetExpired(now: number): void {
    for (const [id, exp] of this.revoked) if (exp <= now) this.revoked.delete(id);
  }
}

/**
 * `<state_dir>/http/session.key`: 32 random bytes made once (0600, in a 0700 folder) and
 * read at every start, so sessions outlive restarts. A symlink or a file of another size
 * is refused rather than trusted or overwritten.
 */
export function loadSessionKey(stateDir: string): Buffer {
  const dir = join(stateDir, "http");
  const path = join(dir, "session.key");
  ensureDir(dir, 0o700);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new RotaError("http_session_key", `http: cannot create ${path}`, { cause: err });
    return readKey(path);
  }
  const key = randomBytes(KEY_BYTES);
  try {
    writeSync(fd, key);
  } finally {
    closeSync(fd);
  }
  return key;
}

function readKey(path: string): Buffer {
  if (lstatSync(path).isSymbolicLink()) throw new RotaError("http_session_key", `http: ${path} is a symlink; remove it and restart (browser sessions end)`);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== KEY_BYTES) throw new RotaError("http_session_key", `http: ${path} is not a ${KEY_BYTES}-byte key; remove it and restart (browser sessions end)`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
