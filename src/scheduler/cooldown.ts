/** @module The failure cooldown: exponential with a cap, never shorter than what the CA asked for. */

export interface CooldownPolicy {
  baseSeconds: number;
  maxSeconds: number;
}

/** Seconds to wait after the `failures`-th consecutive failure: min(base · 2^(n−1), max), at least Retry-After. */
export function cooldownSeconds(failures: number, policy: CooldownPolicy, retryAfterSeconds?: number): number {
  const n = Math.max(1, failures);
  const backoff = Math.min(policy.baseSeconds * 2 ** (n - 1), policy.maxSeconds);
  return retryAfterSeconds !== undefined && retryAfterSeconds > backoff ? retryAfterSeconds : backoff;
}
