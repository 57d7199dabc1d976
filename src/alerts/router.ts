/**
 * @module Which sinks get an alert, and when the repeat limit holds one back (issue 8 §2).
 * Failure events (catalogue.ts) of one cert share one limit per sink: the first goes out at
 * once, later ones are held until `repeat_interval_hours` have passed since the last one
 * delivered, and then one reminder says how many there were. One sent is counted at once, so
 * what comes while it is under way is held; one that does not arrive is taken back
 * (`undelivered`), so the next goes out. A recovery after a failure alert that went out
 * sends one `cert.recovered` and clears the limit. The limit lives in the
 * audit store, so a crash loop or a restart does not send again (a cluster's followers keep
 * theirs in memory: limits.ts). Time comes from the clock.
 */
import type { Severity } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import { FAILURE_EVENTS, atLeast } from "./catalogue.ts";
import type { AlertLimit } from "../store/types.ts";
import type { AlertLimits } from "./limits.ts";

const HOUR_MS = 3_600_000;

/** The keys every `[[alert]]` has that decide what reaches it. */
export interface SinkPolicy {
  name: string;
  events: readonly string[];
  minSeverity: Severity;
  repeatIntervalHours: number;
}

export interface Routable {
  type: string;
  certId: string | null;
  severity: Severity;
  /** A failure's error, kept for the reminder. */
  error: string | null;
}

/** Send now; `repeats` set for a reminder: `count` failures since `since`, this one included. */
export interface Send {
  repeats: { count: number; since: Date } | null;
  /** The error of the last failure held back, when this is a reminder. */
  lastHeldError: string | null;
  /** What sending a failure alert wrote to its limit; given back to `undelivered` when it did not arrive. Null for other events. */
  claim: Claim | null;
}

/** A failure alert counted as sent before its delivery ended: the limit before it, and when it was routed. */
export interface Claim {
  sink: string;
  key: string;
  sentAt: Date;
  prior: AlertLimit | null;
  error: string | null;
}

const NOW: Send = { repeats: null, lastHeldError: null, claim: null };

/** The repeat limit's key: the cert, or the event type for events without one. */
export function limitKey(e: { type: string; certId: string | null }): string {
  return e.certId ?? `event:${e.type}`;
}

export class AlertRouter {
  constructor(
    private readonly limits: AlertLimits,
    private readonly clock: Clock,
  ) {}

  /**
   * Whether `sink` gets `e` now. Not safe to call concurrently for one (sink, key): the
   * caller routes one event at a time.
   */
  async route(e: Routable, sink: SinkPolicy): Promise<Send | null> {
    // Asked for by a person: never filtered, never held.
    if (e.type === "alert.test") return NOW;
    if (e.type === "cert.recovered") return this.recovered(e, sink);
    if (!sink.events.includes(e.type) || !atLeast(e.severity, sink.minSeverity)) return null;
    if (!FAILURE_EVENTS.has(e.type)) return NOW;
    return this.failure(e, sink);
  }

  /**
   * A failure alert sent under `claim` was not delivered (it failed for good, or was never
   * sent): the hold it started is undone, and it counts as held, so the next failure goes
   * out at once (a reminder that counts it, when an earlier alert did arrive). Nothing is
   * sent from here: the next failure decides. Changes nothing when the limit has moved on
   * since (a later alert sent, or a recovery cleared it). Not safe to call concurrently
   * with `route` for the same (sink, key).
   */
  async undelivered(claim: Claim): Promise<void> {
    const now = await this.limits.alertLimit(claim.sink, claim.key);
    if (!now || now.lastSentAt.getTime() !== claim.sentAt.getTime()) return;
    const { prior } = claim;
    // No alert ever arrived: no limit, so no recovery either. What was held meanwhile is not counted by anything.
    if (!prior) return this.limits.clearAlertLimit(claim.sink, claim.key);
    await this.limits.putAlertLimit({
      ...prior,
      held: prior.held + 1 + now.held,
      heldSince: prior.heldSince ?? claim.sentAt,
      lastError: now.lastError ?? claim.error ?? prior.lastError,
    });
  }

  private async failure(e: Routable, sink: SinkPolicy): Promise<Send | null> {
    const now = this.clock.now();
    const key = limitKey(e);
    const limit = await this.limits.alertLimit(sink.name, key);
    const sent = { sink: sink.name, key, lastSentAt: now, held: 0, heldSince: null, lastError: null };
    const claim: Claim = { sink: sink.name, key, sentAt: now, prior: limit, error: e.error };
    if (!limit) {
      await this.limits.putAlertLimit(sent);
      return { repeats: null, lastHeldError: null, claim };
    }
    if (now.getTime() - limit.lastSentAt.getTime() < sink.repeatIntervalHours * HOUR_MS) {
      await this.limits.putAlertLimit({ ...limit, held: limit.held + 1, heldSince: limit.heldSince ?? now, lastError: e.error ?? limit.lastError });
      return null;
    }
    await this.limits.putAlertLimit(sent);
    if (limit.held === 0 || !limit.heldSince) return { repeats: null, lastHeldError: null, claim };
    return { repeats: { count: limit.held + 1, since: limit.heldSince }, lastHeldError: limit.lastError, claim };
  }

  /** Only after a failure alert this sink got; the limit resets whether or not the sink wants to hear it. */
  private async recovered(e: Routable, sink: SinkPolicy): Promise<Send | null> {
    const key = limitKey({ type: e.type, certId: e.certId });
    if (!(await this.limits.alertLimit(sink.name, key))) return null;
    await this.limits.clearAlertLimit(sink.name, key);
    return sink.events.includes(e.type) && atLeast(e.severity, sink.minSeverity) ? NOW : null;
  }

  /** Whether some sink got a failure alert for the cert that no recovery has answered yet. */
  async standing(certId: string, sinks: readonly SinkPolicy[]): Promise<boolean> {
    for (const s of sinks) if (await this.limits.alertLimit(s.name, certId)) return true;
    return false;
  }
}
