/**
 * @module Runs renewals: one at a time per cert, at most `max_concurrent_renewals` in
 * all, each under its own AbortSignal and deadline. Owns the outcome: the cooldown after
 * a failure (persisted, so restarts do not reset it) and the closing event.
 * In cluster mode an order carries the lease's fence, taken when it gets its slot; losing
 * the lease (`abortOrders`, or the store refusing a fenced write) ends it interrupted with
 * no cooldown: `cert_state` is shared, and must not hold back the next leader. Install-only
 * runs (every node's InstallSyncTask) leave `cert_state` alone: it is the leader's.
 */
import { randomBytes } from "node:crypto";
import type { Cancel, Clock } from "../clock.ts";
import { RotaError, describeError, isAbort } from "../errors.ts";
import type { EventBus, Trigger } from "../events.ts";
import { scoped, type Logger } from "../log.ts";
import type { Execute } from "../pipeline/execute.ts";
import type { RunOutcome, RunRequest } from "../pipeline/renewer.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { AuditStore } from "../store/types.ts";
import type { CooldownPolicy } from "./cooldown.ts";
import { afterFailure, failureKind, haltNote, type AfterFailure } from "./failure.ts";
import type { Leadership } from "./leadership.ts";
import { Limiter } from "./limiter.ts";
import { RunEntry, type Dispatch, type Started, type StartOptions } from "./run-entry.ts";

/**
 * What a reload may change. A renewal runs under the settings in force when it gets its
 * slot (a reload while it waits applies to it) and keeps them while it runs.
 */
export interface RunnerSettings {
  execute: Execute;
  policy: CooldownPolicy;
  /** `[daemon] max_authz_failures`: authorization failures since the last success that halt the cert. */
  maxAuthzFailures: number;
  maxConcurrent: number;
  /** A renewal still running this long after it got its slot is aborted and fails. */
  timeoutSeconds: number;
  /**
   * The fingerprint of a cert's order inputs in the config these settings come from
   * (order-inputs.ts), kept beside a failure's cooldown so a config that changes them ends it.
   * Absent (or null): none is kept, and only the cooldown's end or `--force` ends it.
   */
  orderInputs?: (certId: string) => string | null;
  /** Cluster mode: this node's id and the lease it may hold. Absent or null: one node, every run as before. */
  cluster?: { nodeId: string; leadership: Leadership } | null;
}

export interface RunnerDeps {
  store: AuditStore;
  bus: EventBus;
  clock: Clock;
  log: Logger;
}

export type { Started, StartOptions } from "./run-entry.ts";

/**
 * Sortable and short enough to type: time in base 36, then 48 random bits. A first issuance
 * makes thousands in a few milliseconds: with 24 bits, 10,000 in one millisecond shared an id
 * about three times (an audit row's key, a journal entry's owner).
 */
function newRenewalId(now: Date): string {
  return `${now.getTime().toString(36)}-${randomBytes(6).toString("hex")}`;
}

export class Runner {
  private readonly limiter: Limiter;
  private readonly active = new Map<string, RunEntry>();
  /**
   * The ids of `active`'s renewals, kept beside it: the scheduler asks for them after every
   * renewal (the journal's sweep), and building them from a queue of 10,000 each time made
   * first issuance quadratic (issue 11).
   */
  private readonly activeIds = new Set<string>();
  private stopping = false;
  /** Resolved when the last renewal queued or running ends; made by `quiet()` while some are. */
  private drained: PromiseWithResolvers<void> | null = null;
  private settings: RunnerSettings;
  /** The cert ids the last reload configured; null until one does (every cert started is configured). */
  private configured: ReadonlySet<string> | null = null;

  constructor(
    private readonly deps: RunnerDeps,
    settings: RunnerSettings,
  ) {
    this.settings = settings;
    this.limiter = new Limiter(settings.maxConcurrent);
    deps.bus.subscribe((e) => {
      if (e.type !== "renewal.step_started") return;
      const a = this.active.get(e.certId);
      if (a?.renewalId === e.renewalId) a.step = e.step;
    });
  }

  /**
   * Applies new settings to renewals not yet running; a new limit applies at once. A queued
   * renewal of a cert not in `certIds` never starts: it ends as interrupted when its slot comes.
   */
  configure(settings: RunnerSettings, certIds: ReadonlySet<string>): void {
    this.settings = settings;
    this.configured = certIds;
    this.limiter.setLimit(settings.maxConcurrent);
  }

  /** Whether the cert has a renewal queued or running. */
  busy(certId: string): boolean {
    return this.active.has(certId);
  }

  /** The cert's renewal queued or running, if any. */
  current(certId: string): Started | undefined {
    return this.active.get(certId);
  }

  /** The renewal with this id while it is queued or running. */
  byRenewalId(renewalId: string): Started | undefined {
    if (!this.activeIds.has(renewalId)) return undefined;
    for (const a of this.active.values()) if (a.renewalId === renewalId) return a;
    return undefined;
  }

  /** Renewals holding a slot now; the others of `activeRenewalIds` wait for one. */
  running(): number {
    return this.limiter.held;
  }

  /** Live: it follows renewals as they start and end. */
  activeRenewalIds(): ReadonlySet<string> {
    return this.activeIds;
  }

  /** Resolves once no renewal is queued or running (at once when none is). */
  quiet(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return (this.drained ??= Promise.withResolvers<void>()).promise;
  }

  /**
   * Queues a run; null when the cert already has one or the daemon is stopping.
   * `installOnly` re-installs the stored certificate on those targets instead of ordering;
   * `reason` (the decision that started it) goes into the audit row; `newKey`: order with a fresh key.
   */
  start(cert: WatchedCert, trigger: Trigger, opts: StartOptions = {}): Started | null {
    const certId = cert.config.id;
    if (this.stopping || this.active.has(certId)) return null;
    const { bus, clock } = this.deps;
    const renewalId = newRenewalId(clock.now());
    // The row exists from the moment the API hands out the id, queued or not.
    bus.emit({ type: "renewal.started", renewalId, certId, trigger, installOnly: opts.installOnly !== undefined, reason: opts.reason ?? null, at: clock.now() });
    const a = new RunEntry(certId, renewalId, trigger, opts, cert.minRenewalSeconds ?? 0, this.dispatch);
    this.active.set(certId, a);
    this.activeIds.add(renewalId);
    this.limiter.enter(a);
    return a;
  }

  /** A waiting renewal's slot came (`release`), or it was aborted while it waited (null): its run begins. */
  private readonly dispatch: Dispatch = (a, release) => {
    a.controller ??= new AbortController();
    // A turn later, as an awaited slot would come.
    const run = Promise.resolve().then(() => this.run(a, release));
    a.began(run);
    a.opts.onRun?.(a.certId, run);
  };

  /** Aborts a renewal; one still waiting for its slot leaves the line and ends (interrupted) without one. */
  private abort(a: RunEntry, reason: unknown): void {
    if (a.controller) {
      a.controller.abort(reason);
      return;
    }
    if (!this.limiter.leave(a)) return;
    a.controller = new AbortController();
    a.controller.abort(reason);
    this.dispatch(a, null);
  }

  /**
   * Cluster mode, when this node stops leading: aborts every queued and running renewal that
   * orders (a running one removes its challenges; each ends interrupted, with no cooldown).
   * Install-only runs go on: every node installs. Returns how many were aborted.
   */
  abortOrders(reason: string): number {
    const node = this.settings.cluster?.nodeId ?? "this node";
    const orders = [...this.active.values()].filter((a) => !a.installOnly && !a.controller?.signal.aborted);
    for (const a of orders) this.abort(a, new RotaError("leader_lost", `cluster: ${node} stopped leading (${reason}); the order is left to the next leader`));
    return orders.length;
  }

  /** Cancels every queued and running renewal and waits for their clean-up. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const a of [...this.active.values()]) this.abort(a, new Error("daemon stopping"));
    await this.quiet();
  }

  /** `release`: the slot's; null when the renewal was aborted while it waited for one. */
  private async run(a: RunEntry, release: (() => void) | null): Promise<RunOutcome> {
    const { clock } = this.deps;
    const { certId, renewalId, trigger, opts, minSeconds } = a;
    const controller = a.controller!;
    const signal = controller.signal;
    const installOnly = opts.installOnly;
    let outcome: RunOutcome;
    let timedOut: string | null = null;
    let cancelDeadline: Cancel = () => {};
    let settings = this.settings;
    try {
      try {
        if (!release) throw signal.reason;
        settings = this.settings;
        const { execute } = settings;
        const timeoutSeconds = Math.max(settings.timeoutSeconds, minSeconds);
        // Removed by a reload while it waited: it never starts, and is no failure of the cert.
        if (this.configured && !this.configured.has(certId)) throw new RotaError("cert_removed", `runner: ${certId} was removed from the config before its renewal started`);
        // The deadline counts from the slot: waiting in the queue is not the renewal's fault.
        cancelDeadline = clock.setTimeout(() => {
          timedOut = `timed out after ${timeoutSeconds} s ${a.step ? `in step ${a.step}` : "before its first step"}`;
          controller.abort(new RotaError("timeout", timedOut));
        }, timeoutSeconds * 1000);
        const cluster = clusterRun(certId, installOnly !== undefined, settings);
        outcome = await execute({ certId, renewalId, trigger, signal, installOnly, newKey: opts.newKey, ...(cluster ? { cluster } : {}) });
      } finally {
        cancelDeadline();
        release?.();
      }
    } catch (err) {
      outcome = { ok: false, error: err, interrupted: signal.aborted || (err instanceof RotaError && err.code === "cert_removed") };
    }
    try {
      // Past its deadline a renewal is aborted like at a shutdown (challenges removed), but it failed.
      if (timedOut !== null && !outcome.ok && !this.stopping) outcome = { ok: false, error: new RotaError("timeout", timedOut), interrupted: false };
      // Another node leads now: no failure of the cert's, and nothing for its shared cooldown.
      // So too an order that failed after its node stopped leading, before the abort reached it.
      const orderedWithoutLease = installOnly === undefined && settings.cluster?.leadership.isLeader() === false;
      if (!outcome.ok && (leaseLost(outcome.error) || orderedWithoutLease)) outcome = { ...outcome, interrupted: true };
      return await this.conclude(certId, renewalId, outcome, installOnly !== undefined, settings);
    } finally {
      this.active.delete(certId);
      this.activeIds.delete(renewalId);
      if (this.active.size === 0 && this.drained) {
        this.drained.resolve();
        this.drained = null;
      }
    }
  }

  /**
   * Records the cooldown, the authorization failures and a halt (or clears them all on a
   * success) and closes the renewal with its final event, whatever the store does. A halt is
   * said in the row's error and by `cert.halted`, after the renewal's own event.
   */
  private async conclude(certId: string, renewalId: string, outcome: RunOutcome, installOnly: boolean, settings: RunnerSettings): Promise<RunOutcome> {
    const { bus, clock, store } = this.deps;
    const log = scoped(this.deps.log, { cert: certId, renewal: renewalId });
    // The cluster's cert_state is the leader's orders' alone; InstallSyncTask backs off its installs in memory.
    const keepsState = !(installOnly && settings.cluster);
    if (outcome.ok) {
      if (keepsState) {
        await store
          .putCertState({ certId, consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null })
          .catch((err) => log.error(`${certId}: cannot clear the cooldown: ${describeError(err)}`));
      }
      bus.emit({ type: "renewal.succeeded", renewalId, certId, at: clock.now(), serial: outcome.issued.serial, notAfter: outcome.issued.notAfter });
      log.success(`${certId}: ${installOnly && !outcome.ordered ? "re-installed" : "renewed"}, serial ${outcome.issued.serial}, valid until ${outcome.issued.notAfter.toISOString()}`);
      return outcome;
    }
    const error = describeError(outcome.error);
    if (outcome.interrupted || isAbort(outcome.error)) {
      bus.emit({ type: "renewal.failed", renewalId, certId, at: clock.now(), error, interrupted: true, retryAt: null });
      log.warn(`${certId}: renewal ${renewalId} interrupted`);
      return { ...outcome, interrupted: true };
    }
    if (!keepsState) {
      bus.emit({ type: "renewal.failed", renewalId, certId, at: clock.now(), error, interrupted: false, retryAt: null });
      log.error(`${certId}: re-install ${renewalId} failed: ${error}`);
      return outcome;
    }
    // Nothing is wrong with the cert: no cooldown would outlast the restart that fixes it (the cooldown kept is what was
    // there), and each check tries again, refused at once by the new binary without a word to the CA.
    if (failureKind(outcome.error) === "restart") {
      bus.emit({ type: "renewal.failed", renewalId, certId, at: clock.now(), error, interrupted: false, retryAt: null });
      log.error(`${certId}: renewal ${renewalId} failed: ${error}; no cooldown for the cert, it is tried again at the next check`);
      return outcome;
    }
    let recorded: AfterFailure | null = null;
    try {
      const policy = { ...settings.policy, maxAuthzFailures: settings.maxAuthzFailures };
      const next = afterFailure(await store.getCertState(certId), certId, outcome.error, error, policy, clock.now());
      const inputs = settings.orderInputs?.(certId);
      if (inputs) next.state.inputs = inputs;
      await store.putCertState(next.state);
      recorded = next;
    } catch (err) {
      log.error(`${certId}: renewal ${renewalId} failed: ${error}; and its cooldown could not be stored: ${describeError(err)}`);
    }
    const halt = recorded?.halted ? recorded.state : null;
    const said = halt ? `${error}; ${haltNote(certId, halt.authzFailures)}` : error;
    const retryAt = recorded?.state.retryAt ?? null;
    if (retryAt) log.error(`${certId}: renewal ${renewalId} failed (${recorded!.state.consecutiveFailures} in a row), next try after ${retryAt.toISOString()}: ${error}`);
    else if (recorded) log.error(`${certId}: renewal ${renewalId} failed: ${said}`);
    bus.emit({ type: "renewal.failed", renewalId, certId, at: clock.now(), error: said, interrupted: false, retryAt });
    if (halt) bus.emit({ type: "cert.halted", certId, failures: halt.authzFailures, lastError: error, at: clock.now() });
    return outcome;
  }
}

/**
 * What a cluster-mode run carries (null off the cluster): the lease's fence as it is when
 * the run gets its slot. An order without one (this node stopped leading while it waited)
 * is not placed; an install-only run writes no issued certificate and needs none.
 */
function clusterRun(certId: string, installOnly: boolean, settings: RunnerSettings): RunRequest["cluster"] | null {
  const cluster = settings.cluster;
  if (!cluster) return null;
  if (installOnly) return { fence: null };
  // Asked first: the coordinator's fence outlives its lead (it names the last term led).
  const fence = cluster.leadership.isLeader() ? cluster.leadership.fence() : null;
  if (!fence) throw new RotaError("not_leader", `runner: ${certId}: ${cluster.nodeId} does not lead the cluster now; the order is left to the leader`);
  return { fence };
}

/** The store refused a fenced write, or the run found this node no longer leads: the new leader's business now. */
function leaseLost(err: unknown): boolean {
  return err instanceof RotaError && (err.code === "fenced" || err.code === "not_leader" || err.code === "leader_lost");
}
