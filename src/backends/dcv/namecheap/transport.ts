/**
 * @module How every Namecheap API command travels, for the DNS and the SSL clients alike: one
 * form-encoded POST to the `xml.response` endpoint carrying the global parameters (the API key
 * in the body, never in a URL a proxy might log), no redirect followed (fetch would resend the
 * form, key included, wherever `Location` points), a 60-s limit per call beside the caller's
 * signal. Reading the reply is each client's own business.
 */
import { RotaError } from "../../../errors.ts";
import { parseRetryAfter } from "../../../retry-after.ts";
import type { NamecheapCredentials } from "./client.ts";

/** Namecheap answers within seconds; a call still open after this is a hung connection. */
export const CALL_TIMEOUT_MS = 60_000;

/** The API key masked out of `text`: every message a client builds goes through it. */
export function hideKey(creds: NamecheapCredentials, text: string): string {
  return creds.apiKey ? text.split(creds.apiKey).join("***") : text;
}

/**
 * POSTs `command` with its `params` and resolves with the reply's body. Rejects with
 * `aborted` when `signal` fires, `namecheap_http` for any status but 200 (its Retry-After kept,
 * a redirect named and not followed), `namecheap_unreachable` for no reply (or none within
 * `limitMs`, CALL_TIMEOUT_MS unless given); each message starts `<who>: <command>:` and never holds the key.
 */
export async function postCommand(
  creds: NamecheapCredentials,
  who: string,
  command: string,
  params: [string, string][],
  signal: AbortSignal,
  limitMs = CALL_TIMEOUT_MS,
): Promise<string> {
  const fail = (code: string, message: string, retryAfterSeconds?: number) =>
    new RotaError(code, hideKey(creds, `${who}: ${command}: ${message}`), retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
  if (signal.aborted) throw new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason });
  const body = new URLSearchParams([
    ["ApiUser", creds.apiUser],
    ["ApiKey", creds.apiKey],
    ["UserName", creds.username],
    ["ClientIp", creds.clientIp],
    ["Command", command],
    ...params,
  ]);
  const limit = AbortSignal.timeout(limitMs);
  try {
    const res = await fetch(creds.apiUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body: body.toString(),
      signal: AbortSignal.any([signal, limit]),
      redirect: "manual",
    });
    const text = await res.text();
    if (res.status !== 200) {
      const location = res.headers.get("location");
      const redirect = location ? ` to ${location} (not followed: the request carries the API key; set api_url to the endpoint itself)` : "";
      throw fail("namecheap_http", `HTTP ${res.status} ${res.statusText}${redirect}`.trim(), parseRetryAfter(res.headers.get("retry-after"), new Date()));
    }
    return text;
  } catch (err) {
    if (err instanceof RotaError) throw err;
    if (signal.aborted) throw new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason });
    if (limit.aborted) throw fail("namecheap_unreachable", `no reply within ${limitMs / 1000} s`);
    throw fail("namecheap_unreachable", `${creds.apiUrl}: ${(err as Error).message}`);
  }
}
