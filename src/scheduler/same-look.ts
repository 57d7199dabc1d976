/**
 * @module Whether a fresh look at a cert says exactly what the last one said, so that the
 * scheduler keeps the last one. A no-change sweep of 10,000 certs otherwise replaced 10,000
 * looks (about ten objects each) that had lived a whole interval: old enough to need a full
 * collection to free, at every interval (issue 11). Any field anyone reads counts, but the
 * decision's reason: it says the days left, so it changes every quarter of an hour or so,
 * and the caller carries the fresh one over into the look it keeps (`keepLook`).
 */
import type { CertSummary } from "../crypto/summary.ts";
import type { Decision } from "./due.ts";
import type { CertLook, TargetLook } from "./scheduler.ts";

/** The look to keep: `before`, given `fresh`'s reason, when the two say the same; else `fresh`. */
export function keepLook(before: CertLook | undefined, fresh: CertLook): CertLook {
  if (!before || !sameLook(before, fresh)) return fresh;
  if (before.decision && fresh.decision && before.decision.reason !== fresh.decision.reason) before.decision.reason = fresh.decision.reason;
  return before;
}

/** Whether `a` and `b` say the same, their decisions' reasons apart. */
export function sameLook(a: CertLook, b: CertLook): boolean {
  return (
    a.error === b.error &&
    a.latestSerial === b.latestSerial &&
    a.ari === b.ari &&
    sameTime(a.dueSince, b.dueSince) &&
    a.threshold?.days === b.threshold?.days &&
    a.threshold?.source === b.threshold?.source &&
    sameDecision(a.decision, b.decision) &&
    a.targets.length === b.targets.length &&
    a.targets.every((t, i) => sameTarget(t, b.targets[i]!))
  );
}

function sameDecision(a: Decision | null, b: Decision | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.action === b.action &&
    a.why === b.why &&
    sameTime(a.notAfter, b.notAfter) &&
    sameTime(a.moment?.at, b.moment?.at) &&
    a.moment?.reason === b.moment?.reason &&
    (a.action !== "none" || (b.action === "none" && sameTime(a.newest, b.newest))) &&
    (a.action !== "install" || (b.action === "install" && a.targets.length === b.targets.length && a.targets.every((t, i) => t === b.targets[i])))
  );
}

function sameTarget(a: TargetLook, b: TargetLook): boolean {
  return a.target === b.target && a.error === b.error && a.damaged === b.damaged && a.unverified === b.unverified && a.servedAt === b.servedAt && sameSummary(a.installed, b.installed);
}

function sameSummary(a: CertSummary | null, b: CertSummary | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  return (
    a.serial === b.serial &&
    a.keyType === b.keyType &&
    sameTime(a.notBefore, b.notBefore) &&
    sameTime(a.notAfter, b.notAfter) &&
    a.names.length === b.names.length &&
    a.names.every((n, i) => n === b.names[i])
  );
}

function sameTime(a: Date | null | undefined, b: Date | null | undefined): boolean {
  return (a ?? null) === null ? (b ?? null) === null : (b ?? null) !== null && a!.getTime() === b!.getTime();
}
