/** @module The API token: compared in constant time, whatever the presented value's length. */
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * True when `presented` is the token. Both sides are hashed first, so the comparison
 * takes the same time whatever was sent, and neither length nor a common prefix leaks.
 */
export function tokenMatches(presented: string, token: string): boolean {
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header: null without the header, "" when it is malformed or another scheme (a failed attempt). */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header);
  return m ? m[1]! : "";
}
