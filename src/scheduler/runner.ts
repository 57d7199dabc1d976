/**
 * @module Runs renewals: one at a time per cert, at most `max_concurrent_renewals` in
 * all, each under its own AbortSignal. Owns the outcome: the cooldown after a failure
 * (persisted, so restarts do not reset it) and the closing event.
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../clock.ts";
import { describeError, isAbort, retryAfterOf } from "../errors.ts";
import type { Trigger } from "../events.ts";
import type { Logger } from "../log.ts";
import type { RunOutcome, RunRequest } from "../pipeline/renewer.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { AuditStore } from "../store/types.ts";
import type { EventBus } from "../events.ts";
import { cooldownSeconds, type CooldownPolicy } from "./cooldown.ts";
import { Limiter } from "./limiter.ts";

/**
 * Runs one renewal's pipeline to its outcome. The daemon runs it in a child process
 * (pipeline/child.ts) so an idle daemon never holds the ACME client or a renewal's
 * garbage; tests run `runRenewal` in-process. Step events reach the bus either way.
 */
export type Execute = (certId: string, req: RunRequest) => Promise<RunOutcome>;

export interface RunnerDeps {
  execute: Execute;
  store: AuditStore;
  bus: EventBus;
  clock: Clock;
  policy: CooldownPolicy;
  maxConcurrent: number;
  log: Logger;
}

export interface Started {
  renewalId: string;
  done: Promise<RunOutcome>;
}

/** Sortable and short enough to type: time in base 36, then randomness. */
function newRenewalId(now: Date): string {
  return `${now.getTime().toString(36)}-${randomBytes(3).toString("hex")}`;
}

export class Runner {
  private readonly limiter: Limiter;
  private readonly active = new Map<string, { renewalId: string; controller: AbortController; done: Promise<RunOutcome> }>();
  private stopping = false;

  constructor(private readonly deps: RunnerDeps) {
    this.limiter = new Limiter(deps.maxConcurrent);
  }

  /** Whether the cert has a renewal queued or running. */
  busy(certId: string): boolean {
    return this.active.has(certId);
  }

  activeRenewalIds(): Set<string> {
    return new Set([...this.active.values()].map((a) => a.renewalId));
  }

  /**
   * Queues a run; null when the cert already has one or the daemon is stopping.
   * `installOnly`: re-install the stored certificate on these targets; `newKey`: order with a fresh key.
   */
  start(cert: WatchedCert, trigger: Trigger, opts: { installOnly?: string[]; newKey?: boolean } = {}): Started | null {
    const certId = cert.config.id;
    if (this.stopping || this.active.has(certId)) return null;
    const renewalId = newRenewalId(this.deps.clock.now());
    const controller = new AbortController();
    const done = this.run(cert, renewalId, trigger, controller.signal, opts).finally(() => this.active.delete(certId));
    this.active.set(certId, { renewalId, controller, done });
    return { renewalId, done };
  }

  /** Cancels every queued and running renewal and waits for their clean-up. */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.active.values()];
    for (const a of all) a.controller.abort(new Error("daemon stopping"));
    await Promise.allSettled(all.map((a) => a.done));
  }

  private async run(cert: WatchedCert, renewalId: string, trigger: Trigger, signal: AbortSignal, opts: { installOnly?: string[]; newKey?: boolean }): Promise<RunOutcome> {
    const certId = cert.config.id;
    const { installOnly, newKey } = opts;
    // The row exists from the moment the API hands out the id, queued or not.
    this.deps.bus.emit({ type: "renewal.started", renewalId, certId, trigger, installOnly: installOnly !== undefined, at: this.deps.clock.now() });
    let outcome: RunOutcome;
    try {
      const release = await this.limiter.acquire(signal);
      try {
        outcome = await this.deps.execute(certId, { renewalId, trigger, signal, installOnly, newKey });
      } finally {
        release();
      }
    } catch (err) {
      outcome = { ok: false, error: err, interrupted: signal.aborted };
    }
    return this.conclude(certId, renewalId, outcome, installOnly !== undefined);
  }

  /** Records the cooldown (or clears it) and closes the renewal with its final event, whatever the store does. */
  private async conclude(certId: string, renewalId: string, outcome: RunOutcome, installOnly: boolean): Promise<RunOutcome> {
    const { bus, clock, store, log } = this.deps;
    if (outcome.ok) {
      bus.emit({ type: "renewal.succeeded", renewalId, certId, at: clock.now(), serial: outcome.issued.serial, notAfter: outcome.issued.notAfter });
      log.success(`${certId}: ${installOnly ? "re-installed" : "renewed"}, serial ${outcome.issued.serial}, valid until ${outcome.issued.notAfter.toISOString()}`);
      await store.putCertState({ certId, consecutiveFailures: 0, retryAt: null, lastError: null }).catch((err) => log.error(`${certId}: cannot clear the cooldown: ${describeError(err)}`));
      return outcome;
    }
    const error = describeError(outcome.error);
    if (outcome.interrupted || isAbort(outcome.error)) {
      bus.emit({ type: "renewal.failed", renewalId, certId, at: clock.now(), error, interrupted: true, retryAt: null });
      log.warn(`${certId}: renewal ${renewalId} interrupted`);
      return { ...outcome, interrupted: true };
    }
    let retryAt: Date | null = null;
    try {
      const failures = ((await store.getCertState(certId))?.consecutiveFailures ?? 0) + 1;
      retryAt = new Date(clock.now().getTime() + cooldownSeconds(failures, this.deps.policy, retryAfterOf(outcome.error)) * 1000);
      await store.putCertState({ certId, consecutiveFailures: failures, retryAt, lastError: error });
      log.error(`${certId}: renewal ${renewalId} failed (${failures} in a row), next try after ${retryAt.toISOString()}: ${error}`);
    } catch (err) {
      log.error(`${certId}: renewal ${renewalId} failed: ${error}; and its cooldown could not be stored: ${describeError(err)}`);
    }
    bus.emit({ type: "renewal.failed", renewalId, certId, at: clock.now(), error, interrupted: false, retryAt });
    return outcome;
  }
}
