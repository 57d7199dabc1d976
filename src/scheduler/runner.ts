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
export function newRenewalId(now: Date): string {
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

  /** Queues a run; null when the cert already has one or the daemon is stopping. */
  start(cert: WatchedCert, trigger: Trigger, installOnly?: string[]): Started | null {
    const certId = cert.config.id;
    if (this.stopping || this.active.has(certId)) return null;
    const renewalId = newRenewalId(this.deps.clock.now());
    const controller = new AbortController();
    const done = this.run(cert, renewalId, trigger, controller.signal, installOnly).finally(() => this.active.delete(certId));
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

  private async run(cert: WatchedCert, renewalId: string, trigger: Trigger, signal: AbortSignal, installOnly?: string[]): Promise<RunOutcome> {
    const { bus, clock, store, log } = this.deps;
    const certId = cert.config.id;
    let release: () => void;
    try {
      release = await this.limiter.acquire(signal);
    } catch (err) {
      return { ok: false, error: err, interrupted: true };
    }
    try {
      const outcome = await this.deps.execute(certId, { renewalId, trigger, signal, installOnly });
      if (outcome.ok) {
        await store.putCertState({ certId, consecutiveFailures: 0, retryAt: null, lastError: null });
        bus.emit({ type: "renewal.succeeded", renewalId, certId, at: clock.now(), serial: outcome.issued.serial, notAfter: outcome.issued.notAfter });
        log.success(`${certId}: ${installOnly ? "re-installed" : "renewed"}, serial ${outcome.issued.serial}, valid until ${outcome.issued.notAfter.toISOString()}`);
        return outcome;
      }
      const error = describeError(outcome.error);
      if (outcome.interrupted || isAbort(outcome.error)) {
        bus.emit({ type: "renewal.failed", renewalId, certId, at: clock.now(), error: `interrupted: ${error}`, interrupted: true, retryAt: null });
        log.warn(`${certId}: renewal ${renewalId} interrupted`);
        return { ...outcome, interrupted: true };
      }
      const prev = await store.getCertState(certId);
      const failures = (prev?.consecutiveFailures ?? 0) + 1;
      const wait = cooldownSeconds(failures, this.deps.policy, retryAfterOf(outcome.error));
      const retryAt = new Date(clock.now().getTime() + wait * 1000);
      await store.putCertState({ certId, consecutiveFailures: failures, retryAt, lastError: error });
      bus.emit({ type: "renewal.failed", renewalId, certId, at: clock.now(), error, interrupted: false, retryAt });
      log.error(`${certId}: renewal ${renewalId} failed (${failures} in a row), next try after ${retryAt.toISOString()}: ${error}`);
      return outcome;
    } finally {
      release();
    }
  }
}
