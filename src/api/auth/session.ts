/**
 * @module Browser sessions: signed cookies that carry their own expiry, so they survive
 * a daemon restart with no session table (only logouts are kept: `revoked.ts`). The MAC
 * key mixes the session key file with the API token's hash: a new token invalidates
 * every session at once.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../../clock.ts";
import { RevokedSessions } from "./revoked.ts";

export const SESSION_COOKIE = "rota_session";
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

  /** `revoked` is shared by every `Sessions` of one listener, so a reload that makes a new one keeps the logouts. */
  constructor(
    sessionKey: Buffer,
    token: string,
    private readonly hours: number,
    private readonly clock: Clock,
    private readonly revoked: RevokedSessions = new RevokedSessions(),
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
    if (exp <= this.clock.now().getTime()) return null;
    if (this.revoked.has(id)) return null;
    return { id, expires: new Date(exp), csrf: this.csrfFor(id) };
  }

  /** Ends `s` for every copy of its cookie until it would have expired anyway, across reloads and restarts. */
  revoke(s: Session): void {
    this.revoked.add(s.id, s.expires.getTime(), this.clock.now().getTime());
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
}
