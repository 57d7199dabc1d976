/**
 * @module A DNS server as the config names it (`host:port`). Apart from the query code so
 * that validating a config loads no DNS client (issue 11: a start's config load).
 */

/** A server as `host:port`; IPv6 as `[::1]:53`. */
export interface DnsServer {
  host: string;
  port: number;
}

/** Parses `host`, `host:port` or `[v6]:port`; the port defaults to 53. Null when malformed. */
export function parseServer(text: string): DnsServer | null {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text) ?? /^([^:\s[\]]+)(?::(\d+))?$/.exec(text);
  if (!m?.[1]) return null;
  const port = m[2] === undefined ? 53 : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: m[1], port };
}

export function formatServer(s: DnsServer): string {
  return s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}
