/** @module A cert's renewal plan (renewal_plan) from a decision, when it changed, and the cert's next own moment: pure functions. */
import type { AriRecord, RenewalPlan } from "../store/types.ts";
import type { CertSummary, Decision } from "./due.ts";

/**
 * The plan a decision makes for the newest stored certificate, keeping the ARI answer it
 * had for that certificate (a new certificate starts without one). Null when nothing is stored.
 */
export function planOf(certId: string, latest: CertSummary | null, decision: Decision, have: RenewalPlan | null): RenewalPlan | null {
  if (!latest || !decision.moment) return null;
  return { certId, serial: latest.serial, renewAt: decision.moment.at, reason: decision.moment.reason, ari: have?.serial === latest.serial ? have.ari : null };
}

/**
 * `plan`, or when it says what the look's decision says, the same plan made of the look's own
 * objects (its moment's Date and reason, its newest serial, the id given): a plan read from the
 * store at the start otherwise keeps its own copies of them for as long as nothing changes
 * (issue 11). `plan`'s ARI answer is kept either way.
 */
export function planSharing(certId: string, plan: RenewalPlan | null, look: { decision: Decision | null; latestSerial: string | null }): RenewalPlan | null {
  const moment = look.decision?.moment;
  if (!plan || !moment || look.latestSerial === null) return plan;
  const shared: RenewalPlan = { certId, serial: look.latestSerial, renewAt: moment.at, reason: moment.reason, ari: plan.ari };
  return samePlan(plan, shared) ? shared : plan;
}

export function samePlan(a: RenewalPlan | null, b: RenewalPlan | null): boolean {
  if (!a || !b) return a === b;
  return a.certId === b.certId && a.serial === b.serial && a.renewAt.getTime() === b.renewAt.getTime() && a.reason === b.reason && sameAri(a.ari, b.ari);
}

function sameAri(a: AriRecord | null, b: AriRecord | null): boolean {
  if (!a || !b) return a === b;
  const t = (d: Date | undefined) => d?.getTime();
  return (
    a.certId === b.certId &&
    t(a.window?.start) === t(b.window?.start) &&
    t(a.window?.end) === t(b.window?.end) &&
    a.explanationUrl === b.explanationUrl &&
    t(a.polledAt) === t(b.polledAt) &&
    t(a.nextPollAt) === t(b.nextPollAt) &&
    a.error === b.error
  );
}

/**
 * The cert's next own moment still ahead of `now`: its renewal moment, and its next ARI poll
 * when its CA advises (`advised`). Null when none is ahead; sweeps then look at it.
 */
export function nextMoment(look: { decision: Decision | null; ari: AriRecord | null }, advised: boolean, now: Date): Date | null {
  const ahead = [look.decision?.moment?.at, advised ? look.ari?.nextPollAt : undefined].filter((d): d is Date => d !== undefined && d > now);
  return ahead.length === 0 ? null : new Date(Math.min(...ahead.map((d) => d.getTime())));
}
