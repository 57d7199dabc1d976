/** @module A cert's status as the API reports it: a pure function of the scheduler's last look, the runner and the store. */
import { toUnicode } from "../config/names.ts";
import { daysLeft } from "../scheduler/due.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import type { CertState, RenewalHead } from "../store/types.ts";
import { iso, renewalSummaryJson, type CertJson, type CertStatus } from "./json.ts";

export interface CertViewInput {
  id: string;
  domains: string[];
  now: Date;
  look: CertLook | undefined;
  busy: boolean;
  state: CertState | null;
  last: RenewalHead | undefined;
  nextTick: Date | null;
  intervalSeconds: number;
}

/** What a cert's status is made of. */
export type StatusInput = Pick<CertViewInput, "busy" | "look" | "state" | "now">;

/** Whether the cert's status depends on its failure state: only one that needs work has a status the state can change. */
export function statusNeedsState(i: Pick<CertViewInput, "busy" | "look">): boolean {
  return !i.busy && i.look !== undefined && i.look.decision?.action !== "none";
}

export function certStatus(i: StatusInput): CertStatus {
  if (i.busy) return "renewing";
  if (!i.look) return "checking";
  const d = i.look.decision;
  // The scheduler leaves it alone until a target answers, so it is neither due nor failed, whatever the last attempt did.
  if (!d) return "unreadable";
  if (d.action === "none") return "ok";
  if ((i.state?.consecutiveFailures ?? 0) > 0) return i.state?.retryAt && i.state.retryAt > i.now ? "cooldown" : "failed";
  return d.notAfter === null ? "missing" : "due";
}

export function certJson(i: CertViewInput): CertJson {
  const notAfter = i.look?.decision?.notAfter ?? null;
  const retryAt = i.state?.retryAt && i.state.retryAt > i.now ? i.state.retryAt : null;
  return {
    id: i.id,
    domains: i.domains,
    domains_unicode: i.domains.map(toUnicode),
    status: certStatus(i),
    not_after: iso(notAfter),
    days_left: notAfter ? Math.round(daysLeft(notAfter, i.now) * 100) / 100 : null,
    next_check: iso(nextCheck(i.nextTick, retryAt, i.intervalSeconds)),
    retry_at: iso(retryAt),
    due_since: iso(i.look?.dueSince),
    last_renewal: i.last ? renewalSummaryJson(i.last) : null,
    look_error: i.look?.error ?? null,
  };
}

/** The first tick at or after the cooldown's end. */
function nextCheck(nextTick: Date | null, retryAt: Date | null, intervalSeconds: number): Date | null {
  if (!nextTick || !retryAt || retryAt <= nextTick) return nextTick;
  const step = intervalSeconds * 1000;
  const ticks = Math.ceil((retryAt.getTime() - nextTick.getTime()) / step);
  return new Date(nextTick.getTime() + ticks * step);
}
