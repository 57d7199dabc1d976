/** @module What every DNS backend does with a challenge before touching its vendor's API. */
import { RotaError } from "../../errors.ts";
import type { DcvChallenge } from "../types.ts";

export type Dns01Challenge = Extract<DcvChallenge, { kind: "dns-01" }>;
export type DnsCnameChallenge = Extract<DcvChallenge, { kind: "dns-cname" }>;
export type DnsChallenge = Dns01Challenge | DnsCnameChallenge;

/** The challenge as one a DNS backend publishes (a TXT value or a CNAME), or a no-retry `unsupported` error prefixed by `who`. */
export function asDnsChallenge(challenge: DcvChallenge, who: string): DnsChallenge {
  if (challenge.kind !== "dns-01" && challenge.kind !== "dns-cname") throw new RotaError("unsupported", `${who}: cannot solve ${challenge.kind}`, { noRetry: true });
  return challenge;
}

/** Two CNAME targets name the same host: DNS names compare case-insensitively, and a provider may add the trailing dot. */
export function sameTarget(a: string, b: string): boolean {
  return a.replace(/\.$/, "").toLowerCase() === b.replace(/\.$/, "").toLowerCase();
}

/** `<name> already holds a TXT record; …`: why a CNAME cannot be published at a name (RFC 1034 §3.6.2: a CNAME owns its name). */
export function cnameConflict(who: string, recordName: string, types: string[]): RotaError {
  const held = [...new Set(types.map((t) => t.toUpperCase()))].join(", ");
  return new RotaError("record_exists", `${who}: ${recordName} already holds a ${held} record; a CNAME cannot share its name, so nothing was overwritten`, { noRetry: true });
}
