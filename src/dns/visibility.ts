/**
 * @module One look at whether every published TXT value (or `dns-cname` target) is visible: at the configured
 * resolvers (recursive), or at every authoritative server of each name's zone (non-recursive,
 * which catches the one provider server that lags behind the API's "OK").
 */
import type { PropagationPolicy } from "../backends/types.ts";
import { describeError } from "../errors.ts";
import { authoritativeServers, bootstrapServer, QUERY_TIMEOUT_MS } from "./lookup.ts";
import { cnameTargets, lower, query, txtValues } from "./query.ts";
import { formatServer, parseServer, type DnsServer } from "./server.ts";

/** A record the pipeline published: a TXT value (dns-01), or with `type: "CNAME"` the target a CNAME must point at. */
export interface ExpectedRecord {
  name: string;
  value: string;
  type?: "TXT" | "CNAME";
}

export interface Visibility {
  /** "<name> at <server>" for each name some server does not show every value of yet. */
  missing: string[];
  /** Which servers answered what, one clause per server and name. */
  answers: string[];
}

export type VisibilityCheck = (records: ExpectedRecord[], signal: AbortSignal) => Promise<Visibility>;

/** The check a policy describes. `port` replaces 53 for authoritative servers (tests only). */
export function visibilityCheck(policy: PropagationPolicy, port = 53): VisibilityCheck {
  return async (records, signal) => {
    const missing: string[] = [];
    const answers: string[] = [];
    const byName = new Map<string, { type: "TXT" | "CNAME"; values: string[] }>();
    for (const r of records) {
      const type = r.type ?? "TXT";
      const key = `${type} ${r.name}`;
      byName.set(key, { type, values: [...(byName.get(key)?.values ?? []), r.value] });
    }
    for (const [key, { type, values }] of byName) {
      const name = key.slice(type.length + 1);
      let found;
      try {
        found = await serversFor(name, policy, signal, port);
      } catch (err) {
        // The bootstrap resolver may be slow too: a look that cannot find the servers is a miss, not the end.
        if (signal.aborted) throw err;
        answers.push(`no servers for ${name}: ${describeError(err)}`);
        missing.push(`${name} (its servers not found)`);
        continue;
      }
      const { servers, recursive } = found;
      for (const { label, server } of servers) {
        let seen: string[];
        try {
          const reply = await query(server, name, type, { recursive, timeoutMs: QUERY_TIMEOUT_MS, signal });
          seen = type === "TXT" ? txtValues(reply, name) : cnameTargets(reply, name);
        } catch (err) {
          if (signal.aborted) throw err;
          answers.push(`${label} for ${name}: ${describeError(err)}`);
          missing.push(`${name} at ${label}`);
          continue;
        }
        answers.push(`${label} for ${name}: ${seen.length === 0 ? `no ${type}` : seen.map((v) => JSON.stringify(v)).join(", ")}`);
        // A CNAME target is a name: compared case-insensitively, a trailing dot ignored.
        const shows = (v: string) => (type === "TXT" ? seen.includes(v) : seen.includes(lower(v)));
        if (!values.every(shows)) missing.push(`${name} at ${label}`);
      }
    }
    return { missing, answers };
  };
}

async function serversFor(name: string, policy: PropagationPolicy, signal: AbortSignal, port: number): Promise<{ servers: { label: string; server: DnsServer }[]; recursive: boolean }> {
  if (policy.resolvers.length > 0) {
    const servers = policy.resolvers.flatMap((text) => {
      const server = parseServer(text);
      return server ? [{ label: formatServer(server), server }] : [];
    });
    return { servers, recursive: true };
  }
  const auth = await authoritativeServers(name, bootstrapServer(policy.bootstrapResolver), signal, port);
  return { servers: auth.servers.map((ns) => ({ label: `${ns.name} (${formatServer(ns.server)})`, server: ns.server })), recursive: false };
}
