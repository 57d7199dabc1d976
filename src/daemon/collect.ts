/**
 * @module Full collections while renewals run. A first issuance of thousands ends a renewal
 * every few milliseconds, each leaving its request, worker lines, events, log lines and audit
 * rows behind as garbage; under `--smol` the daemon's heap still grew with them until the
 * burst was over (its peak came at the last renewal: about 200 MiB PSS at 10,000 certs, 142
 * with a collection every 500 renewals; issue 11). A collection of the daemon's heap takes
 * tens of milliseconds: spread this thin, it costs well under a millisecond a renewal. The
 * daemon's `collect` first copies the scheduler's objects of the certs renewed meanwhile away
 * from that garbage (`Scheduler.compact`), so the blocks it was made in can go.
 */
import type { EventBus } from "../events.ts";

/** Renewals ended between two collections. */
export const COLLECT_EVERY = 500;

/** Calls `collect` after every `every` renewals ended (succeeded, failed or interrupted); returns the unsubscribe. */
export function collectAfterRenewals(bus: EventBus, collect: () => void, every = COLLECT_EVERY): () => void {
  let ended = 0;
  return bus.subscribe((e) => {
    if (e.type !== "renewal.succeeded" && e.type !== "renewal.failed") return;
    if (++ended % every === 0) collect();
  });
}
