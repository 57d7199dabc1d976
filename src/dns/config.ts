/**
 * @module The propagation keys every DNS-01 backend's section shares (`propagation_*`,
 * `bootstrap_resolver`, `follow_cname`): each DNS backend's `parse` calls this once, so the
 * keys mean the same everywhere and are checked in one place.
 */
import { quote, type Reader } from "../config/reader.ts";
import type { PropagationPolicy } from "../backends/types.ts";
import { parseServer } from "./server.ts";

export function parsePropagationConfig(r: Reader): PropagationPolicy {
  const resolvers: string[] = [];
  for (const item of r.stringList("propagation_resolvers")?.items ?? []) {
    if (parseServer(item.value)) resolvers.push(item.value);
    else r.ctx.problems.add(item.key, `${quote(item.value)} is not host:port`);
  }
  const bootstrap = r.string("bootstrap_resolver");
  if (bootstrap !== undefined && !parseServer(bootstrap)) r.problem("bootstrap_resolver", `${quote(bootstrap)} is not host:port`);
  const intervalSeconds = r.int("propagation_interval_seconds", { min: 1, max: 600, fallback: 2 });
  const timeoutSeconds = r.int("propagation_timeout_seconds", { min: 1, max: 3600, fallback: 120 });
  if (intervalSeconds > timeoutSeconds) r.problem("propagation_interval_seconds", `must not exceed propagation_timeout_seconds (${timeoutSeconds})`);
  return {
    check: r.bool("propagation_check", true),
    resolvers,
    bootstrapResolver: bootstrap ?? null,
    intervalSeconds,
    timeoutSeconds,
    followCname: r.bool("follow_cname", true),
  };
}
