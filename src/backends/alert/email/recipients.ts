/**
 * @module Who got an alert mail, across the attempts of one delivery. A server answers each
 * RCPT TO on its own (RFC 5321 §3.3), so one session may take some recipients and refuse
 * others: the message then reached those it took, and the delivery still failed. A retry goes
 * only to the recipients refused with a 4xx, so nobody gets the same alert twice.
 */

/** One recipient the server would not take, with its reply ("550 5.1.1 no such user"). */
export interface Refusal {
  address: string;
  reply: string;
}

/** A delivery's recipients so far. */
export interface Tally {
  delivered: string[];
  /** Refused with a 5xx: for good. */
  refused: Refusal[];
  /** Refused with a 4xx in the last attempt: the next attempt's recipients. */
  deferred: Refusal[];
}

/** What one SMTP session said about the recipients it was given. */
export interface SessionReply {
  accepted: string[];
  rejected: { recipient?: string | undefined; response?: string | undefined; responseCode?: number | undefined }[];
}

export const NO_ONE: Tally = { delivered: [], refused: [], deferred: [] };

/** The tally after one more session; `before` is not changed. */
export function addSession(before: Tally, reply: SessionReply): Tally {
  const refused = [...before.refused];
  const deferred: Refusal[] = [];
  for (const r of reply.rejected) {
    const refusal = { address: r.recipient ?? "?", reply: r.response ?? `${r.responseCode ?? "no reply"}` };
    if ((r.responseCode ?? 500) >= 500) refused.push(refusal);
    else deferred.push(refusal);
  }
  return { delivered: [...before.delivered, ...reply.accepted], refused, deferred };
}

/**
 * The failure a tally means, or null when everyone got the alert: who refused it and what the
 * server said, who it is deferred for, and who got it anyway ("refused for bad@example.com
 * (550 5.1.1 no such user); delivered to ops@example.com").
 */
export function tallyProblem(t: Tally): string | null {
  if (t.refused.length === 0 && t.deferred.length === 0) return null;
  const list = (rs: Refusal[]) => rs.map((r) => `${r.address} (${r.reply})`).join(", ");
  const parts: string[] = [];
  if (t.refused.length > 0) parts.push(`refused for ${list(t.refused)}`);
  if (t.deferred.length > 0) parts.push(`deferred for ${list(t.deferred)}`);
  if (t.delivered.length > 0) parts.push(`delivered to ${t.delivered.join(", ")}`);
  return parts.join("; ");
}
