/**
 * @module The Namecheap CA's decisions as pure functions: what to do with a certificate by its
 * getInfo `Status` (issue 13 §3, first matching row wins), and whether a reissue was cut short
 * by the end of the plan behind it.
 */
import type { PendingRequest } from "./state.ts";
import type { DcvRecord, SslInfo } from "./replies.ts";

const DAY_MS = 86_400_000;

export type SubmitAction =
  /** Our request is still waiting for its CNAMEs: hand them out again, no new request. */
  | { do: "resume"; records: DcvRecord[] }
  /** Our request was issued while rota was away: nothing to publish, awaitIssuance fetches it. */
  | { do: "collect" }
  | { do: "activate" }
  | { do: "reissue" }
  /** Nothing rota may do: a no-retry error with this text. */
  | { do: "refuse"; message: string };

/** The action for certificate `id` in `info`'s state, with the request rota keeps (if any); `certId` names the cert in advice. */
export function actionFor(id: number, info: Pick<SslInfo, "status" | "statusDescription">, pending: PendingRequest | null, certId: string): SubmitAction {
  const status = info.status.toLowerCase();
  const ours = pending?.certificate_id === id;
  const retry = `finish or cancel it at Namecheap, then rota renew ${certId} --force`;
  if (status === "purchased" && ours) {
    if (!pending?.records || pending.records.length === 0) return { do: "refuse", message: `certificate ${id} has a request rota started but no CNAME records for it; ${retry}` };
    return { do: "resume", records: pending.records };
  }
  if (status === "active" && ours) return { do: "collect" };
  if (status === "purchased") {
    // Written before the call and completed after it: a pending request without an id lost its reply to a stop.
    if (pending && pending.certificate_id === undefined) {
      return {
        do: "refuse",
        message: `certificate ${id} has a request pending whose reply rota never got (it stopped during namecheap.ssl.${pending.command} on certificate ${pending.from_id}, started ${pending.started_at}); ${retry}`,
      };
    }
    return { do: "refuse", message: `certificate ${id} has a request pending that rota did not start; ${retry}` };
  }
  if (status === "newpurchase" || status === "newrenewal") return { do: "activate" };
  if (status === "active") return { do: "reissue" };
  return { do: "refuse", message: `certificate ${id} is ${info.status} (${info.statusDescription || "no description"}); rota can neither activate nor reissue it` };
}

/**
 * A multi-year plan is a series of ≤ 200-day certificates; near its end a reissue gains little.
 * True when the new leaf was cut short (under 30 days of validity) and ends less than a day
 * after the leaf it replaced: renewing again would gain nothing.
 */
export function planUsedUp(leaf: { notBefore: Date; notAfter: Date }, previousNotAfter: Date | null): boolean {
  if (previousNotAfter === null) return false;
  const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
  return lifetime < 30 * DAY_MS && leaf.notAfter.getTime() - previousNotAfter.getTime() < DAY_MS;
}

/** The most `ReplacedBy` links followed from the id rota knows: more is a loop Namecheap should not have. */
export const MAX_HOPS = 20;
