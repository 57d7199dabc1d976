/**
 * @module Delivery of routed alerts to their sinks (issue 8 §2): a bounded queue the bus
 * listener only adds to, so a renewal never waits on a mail server; one worker per sink,
 * so sinks deliver concurrently and a slow one holds back only itself; up to 3 attempts
 * with growing backoff, or the wait the receiver asked for (capped); every attempt recorded.
 * Shutdown gives pending deliveries a grace period, then records them as not sent. Whoever
 * queued an alert hears how it ended (`Settled`): the repeat limit counts only alerts that
 * arrived (router.ts).
 */
import { PARTLY_DELIVERED, type Alert, type AlertBackend } from "../backends/types.ts";
import type { Cancel, Clock } from "../clock.ts";
import { RotaError, describeError, isAbort, retryAfterOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { AuditStore, DeliveryOutcome } from "../store/types.ts";

export interface DispatcherOptions {
  store: Pick<AuditStore, "recordDelivery">;
  clock: Clock;
  log: Logger;
  /** Alerts waiting at most; a full queue drops its oldest least severe alert. */
  capacity: number;
  attempts: number;
  /** The wait after a first failed attempt; each next one doubles it. */
  backoffMs: number;
  /** A receiver's Retry-After is honoured up to this. */
  maxRetryAfterSeconds: number;
  /** One attempt longer than this is aborted and counts as failed. */
  attemptTimeoutMs: number;
  /**
   * A Retry-After is honoured up to this in a delivery made at once (`deliver`): someone waits
   * for its answer (`rota alert test`), which must come within `directBoundMs`.
   */
  directMaxRetryAfterSeconds: number;
}

export const DISPATCH_DEFAULTS: Omit<DispatcherOptions, "store" | "clock" | "log"> = {
  capacity: 1000,
  attempts: 3,
  backoffMs: 5_000,
  maxRetryAfterSeconds: 300,
  attemptTimeoutMs: 30_000,
  directMaxRetryAfterSeconds: 10,
};

/**
 * The longest a delivery made at once (`deliver`) can take: every attempt timed out, and the
 * longer of the backoff and the capped Retry-After between them. With the defaults 110 s.
 */
export function directBoundMs(o: Pick<DispatcherOptions, "attempts" | "backoffMs" | "attemptTimeoutMs" | "directMaxRetryAfterSeconds">): number {
  let waits = 0;
  for (let n = 1; n < o.attempts; n++) waits += Math.max(o.backoffMs * 2 ** (n - 1), o.directMaxRetryAfterSeconds * 1000);
  return o.attempts * o.attemptTimeoutMs + waits;
}

export interface DeliveryResult {
  sink: string;
  outcome: Exclude<DeliveryOutcome, "retrying">;
  error: string | null;
  attempts: number;
  /** Failed, yet some receivers got it (a mail server refusing one of several recipients). */
  partly: boolean;
}

/** Told once how a queued alert ended: delivered, failed after its attempts, or not sent at all. */
export type Settled = (result: DeliveryResult) => void;

interface Job {
  alert: Alert;
  sink: AlertBackend;
  settled?: Settled;
  /** Made at once (`deliver`): a person waits, so a Retry-After is capped lower. */
  direct?: boolean;
}

const SEVERITY_RANK = { info: 0, warning: 1, critical: 2 } as const;

export class Dispatcher {
  private readonly queue: Job[] = [];
  /** The worker of each sink with work, by sink name. */
  private readonly workers = new Map<string, Promise<void>>();
  /** Work outside the workers: deliveries made at once (test alerts), jobs ended before they ran. */
  private readonly outside = new Set<Promise<unknown>>();
  private readonly stopSignal = new AbortController();
  private stopping = false;

  constructor(private readonly o: DispatcherOptions) {}

  /** Queues `alert` for `sink`; never waits. `settled` hears the outcome, whichever it is. */
  enqueue(alert: Alert, sink: AlertBackend, settled?: Settled): void {
    const job: Job = { alert, sink, ...(settled && { settled }) };
    if (this.stopping) {
      this.track(this.finish(job, "not_sent", "the daemon is stopping", 0));
      return;
    }
    if (this.queue.length >= this.o.capacity) this.dropOne();
    this.queue.push(job);
    this.pump(sink.name);
  }

  /**
   * Delivers at once, with retries, bypassing the queue; resolves with the outcome within
   * `directBoundMs` (a Retry-After capped at `directMaxRetryAfterSeconds`).
   */
  deliver(alert: Alert, sink: AlertBackend): Promise<DeliveryResult> {
    if (this.stopping) return this.record({ alert, sink }, "not_sent", "the daemon is stopping", 0);
    return this.track(this.attempt({ alert, sink, direct: true }));
  }

  /**
   * Lets queued and running deliveries finish for up to `graceMs`, then aborts them and
   * records what was left as not sent.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const busy = () => Promise.allSettled([...this.workers.values(), ...this.outside]);
    await this.within(busy(), graceMs);
    this.stopSignal.abort(new RotaError("aborted", "alerts: the daemon is stopping"));
    const left = this.queue.splice(0);
    await Promise.all(left.map((j) => this.finish(j, "not_sent", "the daemon stopped before it was sent", 0)));
    // A sink honours its signal (the AlertBackend contract); one that does not is not waited for long.
    await this.within(busy(), graceMs);
  }

  /** Kept until done: shutdown waits for it. */
  private track<T>(run: Promise<T>): Promise<T> {
    this.outside.add(run);
    void run.finally(() => this.outside.delete(run));
    return run;
  }

  /** The oldest alert of the lowest severity waiting goes, so an info never pushes out a critical. */
  private dropOne(): void {
    let victim = 0;
    this.queue.forEach((j, i) => {
      if (SEVERITY_RANK[j.alert.severity] < SEVERITY_RANK[this.queue[victim]!.alert.severity]) victim = i;
    });
    const [job] = this.queue.splice(victim, 1);
    this.o.log.warn(`queue full (${this.o.capacity}); dropped ${job!.alert.type} (${job!.alert.severity}) for ${job!.sink.name}`);
    this.track(this.finish(job!, "not_sent", "dropped: the alert queue was full", 0));
  }

  private pump(name: string): void {
    if (this.workers.has(name) || this.stopping) return;
    const worker = (async () => {
      for (let i = this.queue.findIndex((j) => j.sink.name === name); i >= 0 && !this.stopping; i = this.queue.findIndex((j) => j.sink.name === name)) {
        const [job] = this.queue.splice(i, 1);
        const result = await this.attempt(job!);
        job!.settled?.(result);
      }
    })().finally(() => {
      this.workers.delete(name);
      // Queued while the worker was finishing its last one.
      if (this.queue.some((j) => j.sink.name === name)) this.pump(name);
    });
    this.workers.set(name, worker);
  }

  private async attempt(job: Job): Promise<DeliveryResult> {
    const { o } = this;
    for (let n = 1; ; n++) {
      const timeout = new AbortController();
      const cancel = o.clock.setTimeout(() => timeout.abort(new RotaError("timeout", `${job.sink.name}: no answer within ${o.attemptTimeoutMs / 1000}s`)), o.attemptTimeoutMs);
      let error: unknown;
      try {
        await job.sink.send(job.alert, AbortSignal.any([this.stopSignal.signal, timeout.signal]));
        return await this.record(job, "delivered", null, n);
      } catch (err) {
        error = timeout.signal.aborted && isAbort(err) ? timeout.signal.reason : err;
      } finally {
        cancel();
      }
      const text = describeError(error);
      if (this.stopSignal.signal.aborted) return this.record(job, "not_sent", `the daemon stopped during attempt ${n}: ${text}`, n);
      const final = n >= o.attempts || (error instanceof RotaError && error.noRetry);
      if (final) {
        o.log.error(`${job.alert.type} to ${job.sink.name} failed after ${n} attempt(s): ${text}`);
        return this.record(job, "failed", text, n, error instanceof RotaError && error.code === PARTLY_DELIVERED);
      }
      await this.record(job, "retrying", text, n);
      const asked = retryAfterOf(error);
      const backoff = o.backoffMs * 2 ** (n - 1);
      const wait = asked === undefined ? backoff : Math.min(asked, job.direct ? o.directMaxRetryAfterSeconds : o.maxRetryAfterSeconds) * 1000;
      o.log.warn(`${job.alert.type} to ${job.sink.name}: attempt ${n} failed, retrying in ${Math.round(wait / 1000)}s: ${text}`);
      if (!(await this.pause(wait))) return this.record(job, "not_sent", `the daemon stopped before attempt ${n + 1}: ${text}`, n);
    }
  }

  /** Waits `ms` on the clock; false when shutdown cut it short. */
  private pause(ms: number): Promise<boolean> {
    const signal = this.stopSignal.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        cancel();
        resolve(false);
      };
      const cancel: Cancel = this.o.clock.setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(true);
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private within(work: Promise<unknown>, ms: number): Promise<unknown> {
    let cancel: Cancel = () => {};
    const timer = new Promise<void>((resolve) => (cancel = this.o.clock.setTimeout(resolve, ms)));
    return Promise.race([work, timer]).finally(cancel);
  }

  /** Records a job that ends without (another) attempt, and tells whoever queued it. */
  private async finish(job: Job, outcome: "not_sent", error: string, attempts: number): Promise<DeliveryResult> {
    const result = await this.record(job, outcome, error, attempts);
    job.settled?.(result);
    return result;
  }

  private async record(job: Job, outcome: DeliveryOutcome, error: string | null, attempts: number, partly = false): Promise<DeliveryResult> {
    try {
      await this.o.store.recordDelivery({ alertId: job.alert.id, sink: job.sink.name, event: job.alert.type, certId: job.alert.cert?.id ?? null, at: this.o.clock.now(), outcome, error, attempts });
    } catch (err) {
      this.o.log.error(`cannot record the delivery of ${job.alert.type} to ${job.sink.name}: ${describeError(err)}`);
    }
    return { sink: job.sink.name, outcome: outcome === "retrying" ? "failed" : outcome, error, attempts, partly };
  }
}
