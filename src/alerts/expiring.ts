/**
 * @module When a cert is "expiring" (issue 8 §1): a pure function of what the scheduler last
 * saw, the policy and now. Close to expiry alone is not enough: a 6-day certificate renewed
 * on time is always close to expiry, so the cert must also have been due for more than one
 * check interval without a successful renewal.
 */

const DAY_MS = 86_400_000;

export interface ExpiringInput {
  now: Date;
  /** The newest certificate anyone has (the scheduler's decision); null when there is none. */
  notAfter: Date | null;
  /** Its lifetime in days, when known. */
  lifetimeDays: number | null;
  /** Since when the cert has needed work without a successful renewal (the scheduler's look). */
  dueSince: Date | null;
  expiryWarningDays: number;
  checkIntervalSeconds: number;
}

/** Whole days left when the cert counts as expiring now, else null. */
export function expiringDays(i: ExpiringInput): number | null {
  if (!i.notAfter || !i.dueSince) return null;
  if (i.now.getTime() - i.dueSince.getTime() <= i.checkIntervalSeconds * 1000) return null;
  const left = Math.floor((i.notAfter.getTime() - i.now.getTime()) / DAY_MS);
  const limit = i.lifetimeDays === null ? i.expiryWarningDays : Math.min(i.expiryWarningDays, i.lifetimeDays / 3);
  return left <= limit ? left : null;
}
