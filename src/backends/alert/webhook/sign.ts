/**
 * @module The webhook signature: `X-Rota-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`
 * over `"<t>.<raw body>"` (the scheme Stripe and Slack use), so a receiver can tell rota's
 * requests from forgeries and refuse a replayed one by its age. `verifySignature` is what
 * `docs/alerts.md` shows receivers, and what the tests check deliveries with.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "X-Rota-Signature";
/** How old a signed request a receiver should still accept. */
const DEFAULT_TOLERANCE_SECONDS = 300;

function hmacHex(secret: string, t: number, body: string): string {
  return createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
}

/** The header value for `body` sent at `at`. */
export function sign(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

/**
 * Whether `header` signs `body` with `secret` and was made within `toleranceSeconds` of
 * `now` (either side: the clocks of two machines differ). Compares in constant time.
 */
export function verifySignature(header: string, secret: string, body: string, now: Date, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS): boolean {
  const parts = new Map(header.split(",").map((p) => [p.slice(0, p.indexOf("=")).trim(), p.slice(p.indexOf("=") + 1).trim()] as const));
  const t = Number(parts.get("t"));
  const given = parts.get("v1") ?? "";
  if (!/^\d+$/.test(parts.get("t") ?? "") || !/^[0-9a-f]{64}$/.test(given)) return false;
  if (Math.abs(now.getTime() / 1000 - t) > toleranceSeconds) return false;
  return timingSafeEqual(Buffer.from(given, "hex"), Buffer.from(hmacHex(secret, t, body), "hex"));
}
