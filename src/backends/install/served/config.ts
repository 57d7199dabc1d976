/**
 * @module The `verify_served` keys every `[[install]]` section may have, whatever its type:
 * the endpoints whose TLS handshake must show the certificate just installed.
 */
import { isIP } from "node:net";
import { quote, type Reader } from "../../../config/reader.ts";

/** An endpoint as configured: `127.0.0.1:443`, `[::1]:8443` or `www.example.com:443`. */
export interface Endpoint {
  host: string;
  port: number;
  /** As written in the config, for messages. */
  text: string;
}

export interface VerifyServed {
  endpoints: Endpoint[];
  /** Every non-wildcard name as SNI; by default the first one only. */
  allNames: boolean;
  /** How long after an install a mismatch is retried before the install step fails. */
  timeoutSeconds: number;
}

export const DEFAULT_VERIFY_SERVED_TIMEOUT_SECONDS = 10;
/** Five minutes: a server that takes longer to pick up a new certificate is not reloading. */
const MAX_VERIFY_SERVED_TIMEOUT_SECONDS = 300;
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/** `host:port` (IPv6 in brackets), or what is wrong with it. */
export function parseEndpoint(text: string): Endpoint | string {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) return "must be host:port (IPv6 as [::1]:443)";
  const host = m[1]!;
  const port = Number(m[2]);
  if (text.startsWith("[") ? isIP(host) !== 6 : isIP(host) !== 4 && !HOST_NAME.test(host)) return "must be host:port with an IP address or a host name (IPv6 as [::1]:443)";
  if (port < 1 || port > 65535) return "port must be between 1 and 65535";
  return { host, port, text };
}

/** The section's `verify_served*` keys; null when it lists no endpoint. */
export function readVerifyServed(r: Reader): { verifyServed: VerifyServed | null } {
  const list = r.stringList("verify_served");
  const allNames = r.bool("verify_served_all_names", false);
  const timeoutSeconds = r.int("verify_served_timeout_seconds", { min: 1, max: MAX_VERIFY_SERVED_TIMEOUT_SECONDS, fallback: DEFAULT_VERIFY_SERVED_TIMEOUT_SECONDS });
  const endpoints: Endpoint[] = [];
  for (const { value, key } of list?.items ?? []) {
    const e = parseEndpoint(value);
    if (typeof e === "string") r.ctx.problems.add(key, `${quote(value)} ${e}`);
    else if (endpoints.some((x) => x.text === value)) r.ctx.problems.add(key, `${quote(value)} is listed twice`);
    else endpoints.push(e);
  }
  if (endpoints.length === 0) {
    for (const k of ["verify_served_all_names", "verify_served_timeout_seconds"]) if (r.has(k) && !r.has("verify_served")) r.problem(k, "has no effect without verify_served");
    return { verifyServed: null };
  }
  return { verifyServed: { endpoints, allNames, timeoutSeconds } };
}
