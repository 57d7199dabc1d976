/** @module A propagation policy for tests: the config defaults, with what a test changes. */
import type { PropagationPolicy } from "../backends/types.ts";

export function propagationPolicy(over: Partial<PropagationPolicy> = {}): PropagationPolicy {
  return { check: true, resolvers: [], bootstrapResolver: null, intervalSeconds: 2, timeoutSeconds: 120, followCname: true, ...over };
}
