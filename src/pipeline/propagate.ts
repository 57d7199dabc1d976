/**
 * @module The `propagate` step: look at once, then every `propagation_interval_seconds`, until
 * every published TXT value (and `dns-cname` target) is visible or `propagation_timeout_seconds` have passed. Time goes
 * through the injected Clock so tests step it by hand.
 */
import type { PropagationPolicy } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import { RotaError } from "../errors.ts";
import { bootstrapServer, cnameTarget } from "../dns/lookup.ts";
import { visibilityCheck, type ExpectedRecord, type VisibilityCheck } from "../dns/visibility.ts";
import { sleepOn } from "../sleep.ts";

/** The DNS lookups the pipeline makes for a backend with a propagation policy; tests replace them. */
export interface DnsProbe {
  visibility(policy: PropagationPolicy): VisibilityCheck;
  /** Where `name` is delegated by CNAME, or null. */
  cnameTarget(name: string, policy: PropagationPolicy, signal: AbortSignal): Promise<string | null>;
}

export const liveDns: DnsProbe = {
  visibility: (policy) => visibilityCheck(policy),
  cnameTarget: (name, policy, signal) => cnameTarget(name, bootstrapServer(policy.bootstrapResolver), signal),
};

export async function awaitPropagation(records: ExpectedRecord[], policy: PropagationPolicy, check: VisibilityCheck, clock: Clock, signal: AbortSignal): Promise<string> {
  const deadline = clock.now().getTime() + policy.timeoutSeconds * 1000;
  for (let looks = 1; ; looks++) {
    const seen = await check(records, signal);
    if (seen.missing.length === 0) return `visible after ${looks} look(s): ${seen.answers.join("; ")}`;
    const left = deadline - clock.now().getTime();
    if (left <= 0) {
      throw new RotaError("propagation_timeout", `propagate: not visible after ${policy.timeoutSeconds} s: ${seen.missing.join(", ")} (last answers: ${seen.answers.join("; ")})`);
    }
    await sleepOn(clock, Math.min(policy.intervalSeconds * 1000, left), signal);
  }
}
