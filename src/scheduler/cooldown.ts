/** @module The failure cooldown: exponential with a cap, never shorter than what the CA asked for (within reason). */

/**
 * The longest Retry-After honoured: a week, the longest window of Let's Encrypt's rate
 * limits. A longer one (10 years has been seen from broken proxies) is taken as that: the
 * cert would otherwise expire without another try.
 */
export const RETRY_AFTER_MAX_SECONDS = 7 * 86_400;

/** The CA's Retry-After as a wait: at most `RETRY_AFTER_MAX_SECONDS`. */
export function honouredRetryAfter(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : Math.min(seconds, RETRY_AFTER_MAX_SECONDS);
}

export interface CooldownPolicy {
  baseSeconds: number;
  maxSeconds: number;
}

/** Seconds to wait after the `failures`-th consecutive failure: min(base · 2^(n−1), max), at least Retry-After (as honoured). */
export function cooldownSeconds(failures: number, policy: CooldownPolicy, retryAfterSeconds?: number): number {
  const n = Math.max(1, failures);
  const backoff = Math.min(policy.baseSeconds * 2 ** (n - 1), policy.maxSeconds);
  const asked = honouredRetryAfter(retryAfterSeconds);
  return asked !== undefined && asked > backoff ? asked : backoff;
}
