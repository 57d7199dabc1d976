/**
 * @module What the pipeline asks the bootstrap resolver: the authoritative servers of the
 * zone that holds a name, and where a CNAME points (DNS-01 delegation).
 */
import { readFileSync } from "node:fs";
import { RotaError } from "../errors.ts";
import { lower, query } from "./query.ts";
import { formatServer, parseServer, type DnsServer } from "./server.ts";

/** How long one question may take; a lagging server is asked again at the next check. */
export const QUERY_TIMEOUT_MS = 3_000;
/** A CNAME that does not answer this fast counts as none (issue 9 §4). */
export const CNAME_TIMEOUT_MS = 2_000;

/** The first `nameserver` of resolv.conf, as the system resolver uses it; 127.0.0.1:53 when none is listed (resolv.conf(5)). */
export function systemResolver(path = "/etc/resolv.conf"): DnsServer {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    // No resolv.conf: the libc default below.
  }
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const host = m?.[1]?.replace(/%.*$/, "");
    if (host) return { host, port: 53 };
  }
  return { host: "127.0.0.1", port: 53 };
}

export function bootstrapServer(configured: string | null): DnsServer {
  return (configured === null ? null : parseServer(configured)) ?? systemResolver();
}

/** One authoritative server: its NS name and the address it is asked at. */
export interface NameServer {
  name: string;
  server: DnsServer;
}

/**
 * The NS of the closest zone enclosing `name`, each with its addresses. The SOA in a negative
 * answer's authority section names the zone at once; otherwise the walk drops one label at a time.
 * `port` is 53 but for tests, whose servers cannot bind it.
 */
export async function authoritativeServers(name: string, bootstrap: DnsServer, signal: AbortSignal, port = 53): Promise<{ zone: string; servers: NameServer[] }> {
  const opts = { recursive: true, timeoutMs: QUERY_TIMEOUT_MS, signal };
  let candidate = lower(name);
  for (;;) {
    const reply = await query(bootstrap, candidate, "NS", opts);
    const ns = reply.answers.flatMap((a) => (a.type === "NS" && lower(a.name) === candidate ? [lower(a.data)] : []));
    if (ns.length > 0) {
      const servers: NameServer[] = [];
      for (const host of ns) {
        const a = await query(bootstrap, host, "A", opts);
        for (const rr of a.answers) if (rr.type === "A") servers.push({ name: host, server: { host: rr.data, port } });
      }
      if (servers.length === 0) throw new RotaError("dns_no_ns", `dns: no address for the name servers of ${candidate} (${ns.join(", ")})`);
      return { zone: candidate, servers };
    }
    const soa = reply.authorities.find((a) => a.type === "SOA");
    const zone = soa ? lower(soa.name) : null;
    if (zone !== null && zone !== candidate && candidate.endsWith(`.${zone}`)) candidate = zone;
    else if (candidate.includes(".")) candidate = candidate.slice(candidate.indexOf(".") + 1);
    else throw new RotaError("dns_no_zone", `dns: no zone with NS records encloses ${lower(name)} (asked ${formatServer(bootstrap)})`);
  }
}

/**
 * Where `name` points when it is a CNAME (the end of the chain), else null. An error or no
 * answer within 2 s counts as "no CNAME": delegation is an option, and the name's own zone is
 * the safe place to publish.
 */
export async function cnameTarget(name: string, bootstrap: DnsServer, signal: AbortSignal): Promise<string | null> {
  let reply;
  try {
    reply = await query(bootstrap, name, "CNAME", { recursive: true, timeoutMs: CNAME_TIMEOUT_MS, signal });
  } catch (err) {
    if (err instanceof RotaError && err.code === "aborted") throw err;
    return null;
  }
  let at = lower(name);
  const seen = new Set<string>();
  for (;;) {
    const next = reply.answers.flatMap((a) => (a.type === "CNAME" && lower(a.name) === at ? [a.data] : []))[0];
    if (next === undefined || seen.has(at)) break;
    seen.add(at);
    at = lower(next);
  }
  return at === lower(name) ? null : at;
}
