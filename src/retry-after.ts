/** @module The Retry-After header (RFC 9110 §10.2.3) as a wait in seconds: ACME CAs and alert receivers send it. */

/** Both forms the RFC allows (delay-seconds, HTTP-date); undefined for anything else, never a negative wait. */
export function parseRetryAfter(value: unknown, now: Date): number | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  // An HTTP-date names a weekday and a month; Date.parse would also take "-5" or "1.5".
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}
