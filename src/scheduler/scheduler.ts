/**
 * @module The scheduler: ticks at start and every `check_interval_seconds`, asks every
 * install target what it serves, decides per cert (due.ts) and hands work to the runner.
 * It keeps the last look at each cert so status pages never re-parse certificates.
 */
import type { Clock } from "../clock.ts";
import { summarizeCert } from "../crypto/summary.ts";
import type { DaemonConfig } from "../config/schema.ts";
import { describeError } from "../errors.ts";
import type { EventBus, Trigger } from "../events.ts";
import type { Logger } from "../log.ts";
import type { ChallengeJournal } from "../pipeline/journal.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { DcvBackend } from "../backends/types.ts";
import type { AuditStore, CertState } from "../store/types.ts";
import { decide, resolveThreshold, type CertSummary, type Decision, type TargetState, type Threshold } from "./due.ts";
import type { Leadership } from "./leadership.ts";
import type { Runner } from "./runner.ts";

export interface SchedulerDeps {
  certs: WatchedCert[];
  runner: Runner;
  store: AuditStore;
  bus: EventBus;
  clock: Clock;
  leadership: Leadership;
  journal: ChallengeJournal;
  dcvs: Map<string, DcvBackend>;
  daemon: DaemonConfig;
  log: Logger;
}

/** The scheduler's last look at one cert. */
export interface CertLook {
  /** Null when a target could not be read; the cert is then left alone rather than renewed blindly. */
  decision: Decision | null;
  threshold: Threshold;
  error: string | null;
}

export type RenewRequestResult =
  | { status: "started"; renewalId: string; installOnly: boolean }
  | { status: "busy" }
  | { status: "not_due"; reason: string }
  | { status: "cooldown"; retryAt: Date; lastError: string | null };

export class Scheduler {
  private readonly looks = new Map<string, CertLook>();
  /** Parsed leaves by PEM text: a target that still serves the same file is not parsed again. */
  private readonly parsed = new Map<string, CertSummary>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastTick: Date | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  /** Looks taken after renewals end; stop() waits for them before the store closes. */
  private readonly refreshing = new Set<Promise<unknown>>();

  constructor(private readonly deps: SchedulerDeps) {}

  start(): void {
    this.tickSafely("startup");
    this.timer = setInterval(() => this.tickSafely("scheduled"), this.deps.daemon.checkIntervalSeconds * 1000);
  }

  /** No new ticks or renewals; resolves when the tick in progress has finished with the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
    await Promise.allSettled(this.refreshing);
  }

  look(certId: string): CertLook | undefined {
    return this.looks.get(certId);
  }

  nextTickAt(): Date | null {
    return this.lastTick ? new Date(this.lastTick.getTime() + this.deps.daemon.checkIntervalSeconds * 1000) : null;
  }

  /** Resolves once the tick in progress (if any) has looked at every cert. */
  async idle(): Promise<void> {
    await this.ticking;
  }

  private tickSafely(trigger: Trigger): void {
    if (this.ticking || this.stopped) return;
    this.ticking = this.tick(trigger)
      .catch((err) => this.deps.log.error(`scheduler: tick failed: ${describeError(err)}`))
      .finally(() => {
        this.ticking = null;
      });
  }

  private async tick(trigger: Trigger): Promise<void> {
    const { deps } = this;
    this.lastTick = deps.clock.now();
    if (!(await deps.leadership.isLeader())) return;
    await this.sweepJournal();
    for (const cert of deps.certs) {
      if (this.stopped) return;
      if (deps.runner.busy(cert.config.id)) continue;
      const look = await this.refresh(cert);
      if (!look.decision || look.decision.action === "none") continue;
      // The cooldown spares the CA; putting a stored certificate back asks nothing of it.
      if (look.decision.action !== "install" && (await this.coolingDown(cert.config.id))) continue;
      deps.bus.emit({ type: "cert.due", certId: cert.config.id, reason: look.decision.reason, at: deps.clock.now() });
      deps.log.info(`${cert.config.id}: ${look.decision.reason}`);
      this.launch(cert, trigger, look.decision);
    }
  }

  /**
   * A renewal asked for through the API or CLI. `force` renews even when not due and
   * ignores the cooldown. `newKey` orders with a fresh key: a new order even when not due
   * (never install-only), still subject to the cooldown unless forced.
   */
  async request(cert: WatchedCert, opts: { force?: boolean; newKey?: boolean } = {}): Promise<RenewRequestResult> {
    const { deps } = this;
    const { force = false, newKey = false } = opts;
    if (deps.runner.busy(cert.config.id)) return { status: "busy" };
    const look = await this.refresh(cert);
    if (!force) {
      const state = look.decision?.action === "install" && !newKey ? null : await this.coolingDown(cert.config.id);
      if (state) return { status: "cooldown", retryAt: state.retryAt, lastError: state.lastError };
      if (!newKey && !look.decision) return { status: "not_due", reason: `cannot tell: ${look.error}` };
      if (!newKey && look.decision?.action === "none") return { status: "not_due", reason: look.decision.reason };
    }
    const decision: Decision =
      newKey || force || !look.decision ? { action: "renew", reason: newKey ? "new key requested" : "forced", notAfter: null } : look.decision;
    const started = this.launch(cert, "manual", decision, newKey);
    return started ? { status: "started", renewalId: started.renewalId, installOnly: started.installOnly } : { status: "busy" };
  }

  /** The cert's failure state while its cooldown lasts, else null. */
  private async coolingDown(certId: string): Promise<(CertState & { retryAt: Date }) | null> {
    const state = await this.deps.store.getCertState(certId);
    return state?.retryAt && state.retryAt > this.deps.clock.now() ? (state as CertState & { retryAt: Date }) : null;
  }

  private launch(cert: WatchedCert, trigger: Trigger, decision: Decision, newKey = false): { renewalId: string; installOnly: boolean } | null {
    const installOnly = decision.action === "install" ? decision.targets : undefined;
    const started = this.deps.runner.start(cert, trigger, { installOnly, newKey });
    if (!started) return null;
    // A renewal process that died (OOM, SIGKILL) left its challenges journaled: remove them now, not at the next tick.
    const after = started.done
      .then(async () => {
        if (this.stopped) return;
        await this.sweepJournal();
        await this.refresh(cert);
      })
      .catch((err) => this.deps.log.error(`scheduler: ${cert.config.id}: ${describeError(err)}`))
      .finally(() => this.refreshing.delete(after));
    this.refreshing.add(after);
    return { renewalId: started.renewalId, installOnly: installOnly !== undefined };
  }

  /** Reads every target and the store, and records the decision. */
  async refresh(cert: WatchedCert): Promise<CertLook> {
    const { deps } = this;
    const threshold = resolveThreshold(cert.config.renewThresholdDays, deps.daemon.renewThresholdDays);
    let look: CertLook;
    try {
      const targets: TargetState[] = [];
      for (const t of cert.installs) {
        const pem = await t.currentCertPem(cert.config.id);
        targets.push({ target: t.name, installed: pem ? this.summarize(pem, t.name) : null });

      }
      const stored = await deps.store.latestIssued(cert.config.id);
      const latest = stored ? this.summarize(stored.leafPem, "store") : null;
      const want = { keyType: cert.config.keyType, domains: cert.config.domains };
      const decision = decide({ now: deps.clock.now(), threshold, targets, latest, want });
      look = { decision, threshold, error: null };
    } catch (err) {
      const error = describeError(err);
      deps.log.error(`scheduler: ${cert.config.id}: ${error}`);
      look = { decision: null, threshold, error };
    }
    this.looks.set(cert.config.id, look);
    return look;
  }

  /** The installed leaf's serial and expiry; an unparseable file counts as nothing installed, so it gets replaced. */
  private summarize(pem: string, target: string): CertSummary | null {
    const cached = this.parsed.get(pem);
    if (cached) return cached;
    let summary;
    try {
      summary = summarizeCert(pem);
    } catch (err) {
      this.deps.log.warn(`scheduler: ${target}: installed certificate cannot be parsed, treating it as missing: ${describeError(err)}`);
      return null;
    }
    if (this.parsed.size > 256) this.parsed.clear();
    this.parsed.set(pem, summary);
    return summary;
  }

  /** Removes challenges journaled by renewals no longer running (a crash, or a failed removal). */
  private async sweepJournal(): Promise<void> {
    await this.deps.journal.recover(this.deps.dcvs, this.deps.log, AbortSignal.timeout(10_000), this.deps.runner.activeRenewalIds());
  }
}
