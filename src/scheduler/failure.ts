/**
 * @module What a failed renewal does to its cert's failure state (issue 12 §5), as a pure
 * function of the state before, the error and the policy: the cooldown, the count of
 * authorizations turned invalid, and the halt that count leads to.
 */
import { RotaError, retryAfterOf } from "../errors.ts";
import type { CertState } from "../store/types.ts";
import { cooldownSeconds, honouredRetryAfter, type CooldownPolicy } from "./cooldown.ts";

export interface FailurePolicy extends CooldownPolicy {
  /** `[daemon] max_authz_failures`: this many authorization failures since the last success halt the cert. */
  maxAuthzFailures: number;
}

/**
 * `rate_limited`: the CA (429) or a server (503) asked to wait; never counts toward a halt.
 * `no_retry`: retrying will not help before someone changes something (an untrusted CA
 * certificate, a challenge the DCV cannot solve, a profile the CA does not offer).
 * `authz_invalid`: the CA could not validate control of a name; counted toward a halt.
 * `restart`: the daemon, not the cert, is at fault (its binary was replaced under it, issue 15
 * §6): only a restart helps, and the cert keeps its failure state as it was.
 */
export type FailureKind = "rate_limited" | "no_retry" | "authz_invalid" | "restart" | "other";

/** The error as it reaches the runner: a RotaError's code and flag, also after crossing from a renewal process. */
export function failureKind(err: unknown): FailureKind {
  if (!(err instanceof RotaError)) return "other";
  if (err.code === "rate_limited" || err.code === "unavailable") return "rate_limited";
  if (err.code === "authz_invalid") return "authz_invalid";
  if (err.code === "binary_replaced") return "restart";
  return err.noRetry ? "no_retry" : "other";
}

export interface AfterFailure {
  state: CertState;
  /** This failure halted the cert. */
  halted: boolean;
}

/**
 * The state after one more failure: a backoff (at least the CA's Retry-After), the cap at once
 * for `no_retry`, and for an authorization failure one more toward `maxAuthzFailures`, at
 * which the cert halts (no retry time: nothing is tried until `rota renew --force`). Only a
 * success resets the authorization count, so other failures between do not hide a DCV that
 * keeps failing. `error` is what the state keeps as the last error.
 */
export function afterFailure(prev: CertState | null, certId: string, err: unknown, error: string, policy: FailurePolicy, now: Date): AfterFailure {
  const kind = failureKind(err);
  const failures = (prev?.consecutiveFailures ?? 0) + 1;
  const authzFailures = (prev?.authzFailures ?? 0) + (kind === "authz_invalid" ? 1 : 0);
  const halted = kind === "authz_invalid" && authzFailures >= policy.maxAuthzFailures;
  const retryAfter = retryAfterOf(err);
  const seconds = kind === "no_retry" ? Math.max(policy.maxSeconds, honouredRetryAfter(retryAfter) ?? 0) : cooldownSeconds(failures, policy, retryAfter);
  const haltedAt = halted ? now : (prev?.haltedAt ?? null);
  return {
    state: { certId, consecutiveFailures: failures, retryAt: haltedAt ? null : new Date(now.getTime() + seconds * 1000), lastError: error, authzFailures, haltedAt },
    halted,
  };
}

/** What the failed row's error ends with, and the log line, when the cert halts. */
export function haltNote(certId: string, failures: number): string {
  return `stopped retrying after ${failures} authorization failures in a row: fix its DCV, then rota renew ${certId} --force`;
}
