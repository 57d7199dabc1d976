/**
 * @module The scheduler: ticks at start and every `check_interval_seconds`, asks every
 * install target what it serves, decides per cert (due.ts) and hands work to the runner.
 * Between sweeps one more timer wakes it for the earliest cert's own moment (its renewal
 * moment, its next ARI poll, its cooldown's end), and that look covers only the certs whose
 * moment came: a 40-s certificate renews on time under an hourly sweep. Each cert's plan
 * (renewal_plan) is read in bulk and written only when it changes.
 * It keeps the last look at each cert so status pages never re-parse certificates, and
 * each target's parsed leaf by the target's change stamp, so an unchanged certificate is
 * parsed once, not at every tick. A tick yields to the event loop between certs, so the
 * API answers during a sweep of thousands. A reload hands it a new watchlist; renewals
 * already running keep theirs.
 * A sweep passes by a cert nothing changed for (settled): its look holds until its next
 * moment or its targets' backstop read (`HintedInstall.recheckAt`), unless an event could
 * change it first: its targets' change hints, a reload that touched it, a renewal or sync
 * ending, an ARI answer, a halt cleared. Such a cert costs a sweep no read and no allocation;
 * what a look shows that depends on the time (days left) is computed when read.
 * Only the leader (`Leadership`) sweeps, orders, polls ARI and writes plans: a follower's
 * ticks do nothing, and `request()` there names the leader. In cluster mode (`[cluster]`,
 * read at start) the leader launches only orders: putting the stored certificate back on
 * each node's targets is InstallSyncTask's, on every node, leader included.
 */
import { canCompact, canProbeServed, canReadBack, hasChangeHints, type InstallBackend } from "../backends/types.ts";
import type { Cancel, Clock } from "../clock.ts";
import { summarizeCert } from "../crypto/summary.ts";
import { describeError, RotaError } from "../errors.ts";
import type { EventBus, Trigger } from "../events.ts";
import { logsDebug, scoped, type Logger } from "../log.ts";
import { configuredDcvs, type ChallengeJournal, type DcvFinder } from "../pipeline/journal.ts";
import type { RunOutcome } from "../pipeline/renewer.ts";
import type { WatchedCert, Watchlist } from "../pipeline/runtime.ts";
import type { AriRecord, AuditStore, CertState, RenewalPlan } from "../store/types.ts";
import { AriPoller, pollDue, type AdviceSource } from "./ari-poll.ts";
import { decide, issuedAfter, shareJitterSerial, type AriWindow, type CertSummary, type Decision, type TargetState } from "./due.ts";
import type { Leadership } from "./leadership.ts";
import { readTarget, type Served } from "./read-back.ts";
import type { Runner, StartOptions } from "./runner.ts";
import { MomentTimer } from "./moment-timer.ts";
import { intern, internAll, type Texts } from "./intern.ts";
import { cooldownsEnded, orderInputs } from "./order-inputs.ts";
import { nextMoment, planOf, planSharing, samePlan } from "./plan.ts";
import { keepLook } from "./same-look.ts";
import { longThresholdWarning, resolveThreshold, type Threshold } from "./threshold.ts";

/** How long one sweep of the challenge journal may take. */
const SWEEP_BUDGET_MS = 10_000;
/** Certs whose objects `compact()` copies in one turn of the event loop: a few ms. */
const COMPACT_SLICE = 250;
/** Certs whose stored summaries a tick reads at once: one statement for many, each read well under a slice. */
const STORE_BATCH = 256;
/**
 * How long a tick runs before it lets requests and timers in: well under the ~20 ms a
 * request may wait. Measured on this process's own timer, not the injected clock: it is
 * about the event loop, and decides nothing.
 */
const SLICE_MS = 8;

export interface SchedulerDeps {
  runner: Runner;
  store: AuditStore;
  bus: EventBus;
  clock: Clock;
  leadership: Leadership;
  journal: ChallengeJournal;
  /** The backends the journal's sweep removes with, for a watchlist; by name among the configured ones when unset. */
  findDcvs?: (watch: Watchlist) => DcvFinder;
  log: Logger;
  /** How an installed leaf is read; a test counts the calls. */
  summarize?: (pem: string) => CertSummary;
  /** The CAs' ARI advisors; without them no CA is asked. */
  advice?: AdviceSource;
}

/** A target's parsed leaf, under the key it was read with: the backend's stamp, or the PEM itself. */
interface Parsed {
  target: string;
  key: string;
  summary: CertSummary;
}

/** The scheduler's last look at one cert. */
export interface CertLook {
  /** Null when a target could not be read; the cert is then left alone rather than renewed blindly. */
  decision: Decision | null;
  /** The explicit renew_threshold_days, or null (the lifetime rule alone). */
  threshold: Threshold | null;
  /** What the CA's ARI last said about the newest stored certificate; null before any answer, or without advice. */
  ari: AriRecord | null;
  error: string | null;
  /** Each install target as this look found it, in config order; targets after one cut short by stop() are left out. */
  targets: TargetLook[];
  /** Since when the cert has needed work without a successful renewal; null while nothing is to do. */
  dueSince: Date | null;
  /** The newest stored certificate's serial at this look, so views can tell which targets serve it without a store read. */
  latestSerial: string | null;
}

/**
 * One target at a look: what it serves, or why it could not be read (`error`; `installed` is
 * then null). `unverified`: why a `verify_served` endpoint could not be asked what it serves.
 */
export type TargetLook = TargetState & { error?: string; unverified?: string };

export type RenewRequestResult =
  | { status: "started"; renewalId: string; installOnly: boolean }
  | { status: "busy"; renewalId: string }
  | { status: "not_due"; reason: string; renewAt: Date | null; ariWindow: AriWindow | null }
  | { status: "cooldown"; retryAt: Date; lastError: string | null }
  /** Authorizations failed `failures` times since the last success: only `force` renews it. */
  | { status: "halted"; haltedAt: Date; failures: number; lastError: string | null }
  /** Cluster mode: renewals run on the leader only; null when no node leads right now. */
  | { status: "not_leader"; leader: string | null; term: number | null };

export class Scheduler {
  private watch: Watchlist;
  private readonly looks = new Map<string, CertLook>();
  /** `byId`, once made. */
  private byIdMap: Map<string, WatchedCert> | null = null;
  /** Per cert, per target: the leaf it served at the last look. Every cert's, with no cap: a tick of thousands parses none that did not change. */
  private readonly parsed = new Map<string, Parsed[]>();
  private cancelTimer: Cancel = () => {};
  /** When the sweep's interval timer was armed: it fires every interval from then on, whatever a reload's own look does. */
  private sweepArmedAt: number | null = null;
  private ticking: Promise<void> | null = null;
  /** A tick asked for while one runs: it runs right after, so nothing asked for is skipped. */
  private tickAgain: Trigger | null = null;
  /** Certs the moment timer asked to look at while a tick ran: looked at right after it. */
  private readonly againOnly = new Set<string>();
  private stopped = false;
  /** Aborted by stop(): read-backs in flight give up at once instead of holding shutdown. */
  private readonly stopSignal = new AbortController();
  /** Each cert's plan as stored (null: none stored); a cert absent has not been read yet. */
  private readonly plans = new Map<string, RenewalPlan | null>();
  /** Each cert's next own moment, and the timer for the earliest. */
  private readonly moments: MomentTimer;
  /** Certs whose ARI answer changed the window while their moment (this time) was ahead: the next look says when it moved it to now or before. */
  private readonly movedEarlier = new Map<string, Date>();
  /** The serial each cert's long-threshold warning was last said for, so each certificate's is said once. */
  private readonly warned = new Map<string, string>();
  private readonly poller: AriPoller | null;
  /** The follow-ups of launched renewals whose run has begun (`followUp`); stop() waits for them before the store closes. */
  private readonly refreshing = new Set<Promise<unknown>>();
  /** `[cluster] enabled` as the daemon started: a reload never changes it. */
  private readonly clustered: boolean;
  /**
   * Certs a sweep passes by, each with when it must be looked at again (ms since the epoch):
   * their look says nothing is to do and was taken in a tick, from targets whose change hints
   * vouched for that sweep or that answer from the store (`settle`). Absent: the next sweep looks.
   */
  private readonly settled = new Map<string, number>();
  /** Counts the events that may change a look; `touched` holds each cert's latest, `touchedAll` the latest for all. */
  private events = 0;
  private readonly touched = new Map<string, number>();
  private touchedAll = 0;
  /** Each hinted target's mark at the last sweep: what the next sweep asks its changes since. */
  private marks = new WeakMap<InstallBackend, number>();
  /** Certs looked at since the last `compact()`. */
  private readonly looked = new Set<string>();
  /** The distinct install targets of the watched certs. */
  private targets: InstallBackend[];
  /** The next sweep first ends the cooldowns whose failed renewal had other order inputs (`endChangedCooldowns`): set at start and by each reload. */
  private inputsChanged = true;

  constructor(
    private readonly deps: SchedulerDeps,
    watch: Watchlist,
  ) {
    this.watch = watch;
    this.targets = targetsOf(watch);
    this.clustered = watch.config.cluster.enabled;
    this.moments = new MomentTimer(deps.clock, (ids) => this.tickSafely("scheduled", ids));
    this.poller = deps.advice
      ? new AriPoller({ advice: deps.advice, store: deps.store, clock: deps.clock, log: deps.log, signal: this.stopSignal.signal }, (id, serial, record, manual) => void this.onAri(id, serial, record, manual))
      : null;
  }

  /**
   * The watched certs by id, for the checks a tick makes per cert: made at its first use, not
   * by the constructor, which the start runs before it answers (some 10 ms at 10,000 certs; issue 11).
   */
  private get byId(): Map<string, WatchedCert> {
    return (this.byIdMap ??= byIdOf(this.watch));
  }

  start(): void {
    this.tickSafely("startup");
    this.arm();
  }

  /** No new ticks or renewals; resolves when the tick in progress has finished with the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.abort(new Error("scheduler stopping"));
    this.cancelTimer();
    this.moments.stop();
    await this.ticking;
    await Promise.allSettled(this.refreshing);
  }

  /**
   * Watches `next` from now on and looks at every cert at once: new certs are checked,
   * removed ones are no longer renewed (renewals already running finish on their own).
   */
  update(next: Watchlist): void {
    const intervalChanged = next.config.daemon.checkIntervalSeconds !== this.watch.config.daemon.checkIntervalSeconds;
    const before = this.byId;
    if (!sameShared(this.watch, next)) this.unsettleAll();
    else for (const c of next.certs) if (!sameWatched(before.get(c.config.id), c)) this.unsettle(c.config.id);
    this.watch = next;
    this.byIdMap = null;
    this.targets = targetsOf(next);
    for (const id of this.looks.keys()) if (!this.byId.has(id)) this.looks.delete(id);
    for (const id of this.parsed.keys()) if (!this.byId.has(id)) this.parsed.delete(id);
    for (const map of [this.plans, this.movedEarlier, this.warned, this.settled, this.touched]) for (const id of map.keys()) if (!this.byId.has(id)) map.delete(id);
    for (const id of this.looked) if (!this.byId.has(id)) this.looked.delete(id);
    this.moments.retain((id) => this.byId.has(id));
    this.poller?.retain(new Set(this.byId.keys()));
    if (intervalChanged && !this.stopped) this.arm();
    this.inputsChanged = true;
    this.tickSafely("reload");
  }

  /**
   * Every cert is looked at now, not at the next interval, its plan read again: this node has
   * just become the leader (the plans it read as a follower may be older than the last
   * leader's writes), or the audit store is back after an outage (the looks taken meanwhile
   * failed). Before start() it does nothing: the startup tick is that look.
   */
  kick(): void {
    this.plans.clear();
    this.unsettleAll();
    if (this.sweepArmedAt !== null) this.tickSafely("scheduled");
  }

  /**
   * Copies what it keeps per cert (its look, parsed leaves and plan) for the certs looked at
   * since the last call into objects made one after another, so that the old ones, each made
   * amid a sweep's or a renewal's garbage, go at the next collection with the memory around
   * them: the runtime's collector never moves an object, and a block of its heap with one live
   * object left stays whole (issue 11). Each cert's three in one structured clone, so what they
   * share stays shared (a target's leaf and its parsed entry, a look's ARI answer and its
   * plan's). Strings are copied too: a copy that kept them (tried) left the blocks they pin,
   * and gave back less. But the copies of one text are made one string again (`internAll`;
   * the cert's id, names, targets and key type are its config's strings), a plan saying what
   * the look says is made of the look's objects first (`planSharing`), and `jitterUnit`'s
   * entry is given the copy's serial. Then each target that keeps objects per cert copies its
   * own (`CompactableInstall`). A slice of certs per turn of the event loop. A look in
   * progress may still keep the object it had (`keepLook`): the same values, not copied. A
   * cert whose objects cannot be cloned keeps them.
   */
  async compact(): Promise<void> {
    const ids = [...this.looked];
    this.looked.clear();
    let texts: Texts = new Map();
    for (let i = 0; i < ids.length && !this.stopped; i++) {
      if (i % COMPACT_SLICE === 0 && i > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        // A table per slice: it stays small, and a text common to all certs is held once a slice.
        texts = new Map();
      }
      const id = ids[i]!;
      const look = this.looks.get(id);
      if (!look) continue;
      const plan = this.plans.get(id);
      let copy: [CertLook, Parsed[] | undefined, RenewalPlan | null | undefined];
      try {
        copy = structuredClone([look, this.parsed.get(id), plan === undefined ? undefined : planSharing(id, plan, look)]);
      } catch {
        continue;
      }
      const config = this.byId.get(id)?.config;
      intern(texts, id);
      if (config) for (const text of [...config.domains, ...config.install, config.keyType]) intern(texts, text);
      internAll(texts, copy);
      if (copy[0].latestSerial !== null) shareJitterSerial(id, copy[0].latestSerial);
      this.looks.set(id, copy[0]);
      if (copy[1]) this.parsed.set(id, copy[1]);
      if (copy[2] !== undefined) this.plans.set(id, copy[2]);
    }
    if (!this.stopped) for (const t of this.targets) if (canCompact(t)) t.compact();
  }

  watched(): Watchlist {
    return this.watch;
  }

  look(certId: string): CertLook | undefined {
    return this.looks.get(certId);
  }

  /** When the interval's timer next fires a sweep; null before start(). */
  nextTickAt(): Date | null {
    if (this.sweepArmedAt === null) return null;
    const every = this.watch.config.daemon.checkIntervalSeconds * 1000;
    const fired = Math.max(0, Math.floor((this.deps.clock.now().getTime() - this.sweepArmedAt) / every));
    return new Date(this.sweepArmedAt + (fired + 1) * every);
  }

  /**
   * Resolves once every watched cert has had a first look, or no tick is in progress to
   * give it one. Running renewals are not waited for: their certs keep their last look.
   */
  async firstLooks(): Promise<void> {
    while (this.ticking && this.watch.certs.some((c) => !this.looks.has(c.config.id))) await this.ticking;
  }

  /** Resolves once the tick in progress (if any), every renewal queued or running, and the looks after they ended are done. */
  async idle(): Promise<void> {
    const { runner } = this.deps;
    while (this.ticking || this.refreshing.size > 0 || runner.activeRenewalIds().size > 0) {
      await this.ticking;
      await runner.quiet();
      await Promise.allSettled(this.refreshing);
    }
  }

  private arm(): void {
    this.cancelTimer();
    this.sweepArmedAt = this.deps.clock.now().getTime();
    this.cancelTimer = this.deps.clock.setInterval(() => this.tickSafely("scheduled"), this.watch.config.daemon.checkIntervalSeconds * 1000);
  }

  /** A look at every cert (`only` unset: a sweep) or at the certs in `only` (their moment came). */
  private tickSafely(trigger: Trigger, only?: Iterable<string>): void {
    if (this.stopped) return;
    if (this.ticking) {
      if (only) for (const id of only) this.againOnly.add(id);
      else this.tickAgain ??= trigger;
      return;
    }
    this.ticking = this.tick(trigger, only ? new Set(only) : undefined)
      .catch((err) => this.deps.log.error(`scheduler: tick failed: ${describeError(err)}`))
      .finally(() => {
        this.ticking = null;
        const again = this.tickAgain;
        this.tickAgain = null;
        if (again) {
          this.againOnly.clear();
          this.tickSafely(again);
        } else if (this.againOnly.size > 0) {
          const ids = [...this.againOnly];
          this.againOnly.clear();
          this.tickSafely("scheduled", ids);
        }
        if (!this.stopped) this.moments.arm();
      });
  }

  private async tick(trigger: Trigger, only?: ReadonlySet<string>): Promise<void> {
    const { deps } = this;
    if (!deps.leadership.isLeader()) return;
    if (!only) {
      await this.sweepJournal();
      await this.endChangedCooldowns();
    }
    let slice = performance.now();
    const certs = only ? this.watch.certs.filter((c) => only.has(c.config.id)) : await this.unsettled(this.watch.certs);
    let stored = new Map<string, CertSummary>();
    let since = this.events;
    for (let i = 0; i < certs.length; i++) {
      if (performance.now() - slice > SLICE_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        slice = performance.now();
      }
      if (this.stopped) return;
      if (i % STORE_BATCH === 0) {
        const batch = certs.slice(i, i + STORE_BATCH).map((c) => c.config.id);
        // An event from here on may not be in what the looks read: a cert it touched is not settled.
        since = this.events;
        // Read ahead of the targets: a renewal that ends meanwhile leaves it older than what they serve, which decide() takes as newest.
        stored = await deps.store.latestIssuedSummaries(batch);
        await this.loadPlans(batch);
      }
      await this.consider(certs[i]!, trigger, stored, since);
    }
  }

  /**
   * The certs a sweep looks at: those not settled, or whose moment to be looked at came, or
   * on a target whose hints cannot vouch for this sweep. First each hinted target is asked
   * what changed since the last sweep, and the certs it names are unsettled.
   */
  private async unsettled(certs: WatchedCert[]): Promise<WatchedCert[]> {
    const sweep = {};
    const unsure = new Set<InstallBackend>();
    for (const t of this.targets) {
      if (!hasChangeHints(t)) continue;
      let changes;
      try {
        changes = await t.changesSince(sweep, this.marks.get(t) ?? null, (id) => this.unsettle(id));
      } catch {
        changes = { mark: null, all: true };
      }
      if (changes.mark === null) this.marks.delete(t);
      else this.marks.set(t, changes.mark);
      if (changes.all) unsure.add(t);
    }
    const now = this.deps.clock.now().getTime();
    return certs.filter((c) => {
      const until = this.settled.get(c.config.id);
      if (until === undefined) return true;
      if (until > now && (unsure.size === 0 || !c.installs.some((t) => unsure.has(t)))) return false;
      this.settled.delete(c.config.id);
      return true;
    });
  }

  /** An event that may change the cert's look: the next sweep looks at it, and a look in progress does not settle it. */
  private unsettle(id: string): void {
    this.settled.delete(id);
    this.touched.set(id, ++this.events);
  }

  private unsettleAll(): void {
    this.settled.clear();
    this.touchedAll = ++this.events;
  }

  /**
   * Settles the cert after a tick's look (`since`: the count of events when the look's store
   * reads began) when nothing is to do, no event came meanwhile, and every target that reads
   * back has change hints that vouched for this sweep: until its next moment, its ARI poll, or
   * the soonest backstop read of its targets. A cert whose ARI poll is due is not: a failed
   * poll says nothing; nor one with a `verify_served` endpoint, asked at every look.
   */
  private settle(cert: WatchedCert, look: CertLook, since: number): void {
    const id = cert.config.id;
    if (look.decision?.action !== "none" || look.error !== null || this.byId.get(id) !== cert) return;
    if (this.touchedAll > since || (this.touched.get(id) ?? 0) > since) return;
    const now = this.deps.clock.now();
    const advised = this.poller !== null && this.adviser(cert) !== undefined;
    if (advised && (!look.ari || look.ari.nextPollAt <= now)) return;
    let until = nextMoment(look, advised, now)?.getTime();
    if (until === undefined) return;
    for (const t of cert.installs) {
      // Its answer is what the store records, which only runs write, and a run's end unsettles the cert; but not in
      // cluster mode, where other nodes' runs write it too.
      if (!canReadBack(t)) {
        if (this.clustered) return;
        continue;
      }
      if (!hasChangeHints(t) || canProbeServed(t) || !this.marks.has(t)) return;
      until = Math.min(until, t.recheckAt(id, now).getTime());
    }
    this.settled.set(id, until);
  }

  /** Looks at one cert and starts its renewal when it is due and nothing holds it back. */
  private async consider(cert: WatchedCert, trigger: Trigger, stored: Map<string, CertSummary>, since: number): Promise<void> {
    const { deps } = this;
    const id = cert.config.id;
    if (deps.runner.busy(id)) return;
    const look = await this.take(cert, false, stored);
    this.settle(cert, look, since);
    // A scoped logger costs more than the rest of a no-change look: made only for a line that is written.
    if (logsDebug(deps.log)) scoped(deps.log, { cert: id }).debug(`${id}: ${look.decision ? `${look.decision.action}: ${look.decision.reason}` : `cannot tell: ${look.error}`}`);
    this.pollIfDue(cert, stored.get(id) ?? null);
    const was = this.movedEarlier.get(id);
    this.movedEarlier.delete(id);
    if (!look.decision || look.decision.action === "none") return;
    // The install sync puts the stored certificate back on every node, this one included.
    if (this.clustered && look.decision.action === "install") return;
    if (was) look.decision = movedEarlier(look.decision, was);
    const cooling = await this.coolingDown(id);
    if (await this.holdBack(id, look.decision, cooling)) return;
    // A reload while this cert's targets were read: a cert removed is not started, and one
    // changed is looked at again by the tick the reload asked for.
    if (this.stopped || this.byId.get(id) !== cert) return;
    deps.bus.emit({ type: "cert.due", certId: id, reason: look.decision.reason, at: deps.clock.now() });
    scoped(deps.log, { cert: id }).info(`${id}: ${look.decision.reason}`);
    this.launch(cert, trigger, look.decision);
  }

  /** Reads the plans of `ids` not read yet, in one store read. */
  private async loadPlans(ids: readonly string[]): Promise<void> {
    const missing = ids.filter((id) => !this.plans.has(id));
    if (missing.length === 0) return;
    const found = await this.deps.store.renewalPlans(missing);
    for (const id of missing) if (this.byId.has(id)) this.plans.set(id, found.get(id) ?? null);
  }

  /** Starts a background ARI poll of the cert's newest stored certificate when its CA advises and one is due; the leader's alone. */
  private pollIfDue(cert: WatchedCert, latest: CertSummary | null): void {
    if (!this.poller || !latest || this.poller.polling(cert.config.id) || !this.deps.leadership.isLeader()) return;
    const ca = this.adviser(cert);
    if (ca && pollDue(this.plans.get(cert.config.id), latest, this.deps.clock.now())) this.poller.start(cert.config.id, ca, latest.serial);
  }

  /** The cert's `[[ca]]` section when its type gives advice. */
  private adviser(cert: WatchedCert) {
    const ca = this.watch.config.cas.find((c) => c.name === cert.config.ca);
    return ca && this.deps.advice?.advises(ca) ? ca : undefined;
  }

  /**
   * An ARI answer for the certificate `serial`: kept in the plan (stored at once, so a
   * restart does not ask again early), and the cert looked at again now, unless a `rota
   * renew` asked (`manual`: it looks itself). When the answer moved its moment from ahead
   * to now or before, that look says so.
   */
  private async onAri(id: string, serial: string, record: AriRecord, manual: boolean): Promise<void> {
    const plan = this.plans.get(id);
    this.unsettle(id);
    // Stopped leading while the CA answered: the plan is the new leader's to write.
    if (!plan || plan.serial !== serial || !this.byId.has(id) || !this.deps.leadership.isLeader()) return;
    const next: RenewalPlan = { ...plan, ari: record };
    this.plans.set(id, next);
    if (manual) {
      void this.deps.store.putRenewalPlan(next).catch((err) => this.deps.log.error(`scheduler: ${id}: cannot store its ARI answer: ${describeError(err)}`));
      return;
    }
    try {
      await this.deps.store.putRenewalPlan(next);
    } catch (err) {
      this.deps.log.error(`scheduler: ${id}: cannot store its ARI answer: ${describeError(err)}`);
    }
    this.moments.note(id, record.nextPollAt);
    // Looked at again only when the window changed a moment still ahead: a cert already due
    // (a threshold longer than its life) is left to the sweeps, or each poll would renew it.
    const was = this.looks.get(id)?.decision?.moment?.at;
    if (!was || was <= this.deps.clock.now() || sameWindow(plan.ari?.window ?? null, record.window)) {
      if (!this.stopped) this.moments.arm();
      return;
    }
    this.movedEarlier.set(id, was);
    this.tickSafely("scheduled", [id]);
  }

  /**
   * A renewal asked for through the API or CLI. `force` renews even when not due, ignores
   * the cooldown, and clears a halt as the renewal starts (`cert.resumed`). `newKey` orders
   * with a fresh key: a new order even when not due (never install-only), still subject to
   * the cooldown and a halt unless forced. A follower starts nothing and names the leader
   * (`not_leader`); in cluster mode a cert that needs only its stored certificate put back
   * is `not_due`: the install sync does that.
   */
  async request(cert: WatchedCert, opts: { force?: boolean; newKey?: boolean } = {}): Promise<RenewRequestResult> {
    const { deps } = this;
    const { force = false, newKey = false } = opts;
    if (!deps.leadership.isLeader()) return this.notLeader();
    const running = deps.runner.current(cert.config.id);
    if (running) return { status: "busy", renewalId: running.renewalId };
    const halted = await this.halted(cert.config.id);
    if (halted && !force) return { status: "halted", haltedAt: halted.haltedAt, failures: halted.authzFailures, lastError: halted.lastError };
    if (halted) await this.resume(halted);
    // Asked by hand, the CA's word is asked for again (it may have moved the window), at most every 10 s.
    const was = this.looks.get(cert.config.id)?.decision?.moment?.at;
    if (!force) await this.pollNow(cert);
    // Forced, the answer does not depend on the targets: a target that hangs must not hold it.
    const look = force ? null : await this.refresh(cert);
    // Its moment was still ahead before that poll: due now, the CA moved it.
    if (look?.decision && was && was > deps.clock.now()) look.decision = movedEarlier(look.decision, was);
    // The look may have moved the cert's moment (a new ARI window): the timer follows it.
    if (look && !this.stopped) this.moments.arm();
    if (look) {
      // Asked for by hand, even putting a stored certificate back waits out the cooldown: `--force` is the way past it.
      const state = await this.coolingDown(cert.config.id);
      if (state) return { status: "cooldown", retryAt: state.retryAt, lastError: state.lastError };
      if (!newKey && !look.decision) return { status: "not_due", reason: `cannot tell: ${look.error}`, renewAt: null, ariWindow: null };
      if (!newKey && look.decision?.action === "none") return { status: "not_due", reason: look.decision.reason, renewAt: look.decision.moment?.at ?? null, ariWindow: look.ari?.window ?? null };
    }
    const decision: Decision =
      newKey || !look?.decision ? { action: "renew", why: "lifetime", moment: null, reason: newKey ? "new key requested" : "forced", notAfter: null } : look.decision;
    if (this.clustered && decision.action === "install") {
      return { status: "not_due", reason: `${decision.reason}; in cluster mode the install sync puts the stored certificate back`, renewAt: null, ariWindow: look?.ari?.window ?? null };
    }
    // The lease may have lapsed while the targets were read.
    if (!deps.leadership.isLeader()) return this.notLeader();
    const started = this.launch(cert, "manual", decision, newKey);
    if (started) return { status: "started", renewalId: started.renewalId, installOnly: started.installOnly };
    const other = deps.runner.current(cert.config.id);
    return other ? { status: "busy", renewalId: other.renewalId } : { status: "not_due", reason: "the daemon is stopping", renewAt: null, ariWindow: null };
  }

  private notLeader(): RenewRequestResult {
    const leader = this.deps.leadership.leader();
    return { status: "not_leader", leader: leader?.nodeId ?? null, term: leader?.term ?? null };
  }

  /** Asks the cert's CA for ARI advice now, when it gives any for the newest stored certificate; the answer is in the plan when this resolves. */
  private async pollNow(cert: WatchedCert): Promise<void> {
    const ca = this.poller && this.adviser(cert);
    if (!ca) return;
    const id = cert.config.id;
    const latest = (await this.deps.store.latestIssuedSummaries([id])).get(id);
    if (!latest || latest.notAfter <= this.deps.clock.now()) return;
    await this.loadPlans([id]);
    await this.poller!.now(id, ca, latest.serial);
  }

  /**
   * Whether the cooldown holds this decision back. It spares the CA, so putting a stored
   * certificate back is exempt, unless that same repair is what last failed: a target that
   * refuses the same install at every tick is tried again at the cooldown's pace, not every
   * tick. A new damage (another reason) is repaired at once, and so is one after a later
   * successful run (an interrupted run says nothing either way).
   */
  private async holdBack(certId: string, decision: Decision, cooling: CertState | null): Promise<boolean> {
    // Halted: nothing is tried, not even a re-install, until a person forces a renewal.
    if (await this.halted(certId)) return true;
    if (!cooling) return false;
    if (decision.action !== "install") return true;
    const recent = await this.deps.store.listRenewalHeads({ certId, limit: 5 });
    const last = recent.find((r) => r.status === "failed" || r.status === "succeeded");
    return last?.installOnly === true && last.status === "failed" && last.reason === decision.reason;
  }

  /** The cert's failure state while it is halted, else null. */
  private async halted(certId: string): Promise<(CertState & { haltedAt: Date }) | null> {
    const state = await this.deps.store.getCertState(certId);
    return state?.haltedAt ? (state as CertState & { haltedAt: Date }) : null;
  }

  /** Clears a halt for a forced renewal; the count of authorization failures stays until a success, so the next one halts again. */
  private async resume(state: CertState): Promise<void> {
    const { deps } = this;
    await deps.store.putCertState({ ...state, haltedAt: null });
    this.unsettle(state.certId);
    deps.bus.emit({ type: "cert.resumed", certId: state.certId, at: deps.clock.now() });
    scoped(deps.log, { cert: state.certId }).info(`${state.certId}: halt cleared by a forced renewal`);
  }

  /**
   * Ends the cooldown of each cert whose failed renewal was ordered with other inputs than
   * the config gives now (order-inputs.ts: names, CA and its options such as `profile`, key,
   * DCV, and the `[[ca]]`/`[[dcv]]` sections named): the operator changed what failed and
   * expects the next try now, not when the cooldown ends. The first sweep after the start
   * and after each reload does it, so an edit made while the daemon was stopped counts too.
   * A halt is left alone: only `rota renew --force` clears it (issue 12 §5).
   */
  private async endChangedCooldowns(): Promise<void> {
    if (!this.inputsChanged) return;
    this.inputsChanged = false;
    const { deps } = this;
    const now = deps.clock.now();
    let states: Map<string, CertState>;
    try {
      states = await deps.store.certStates();
    } catch (err) {
      this.inputsChanged = true;
      deps.log.error(`scheduler: cannot read the certs' failure states to end the cooldowns a config change ends: ${describeError(err)}`);
      return;
    }
    // A cert renewing now is left to its run, whose end writes its state.
    const inputsOf = (id: string) => (this.byId.has(id) && !deps.runner.busy(id) ? orderInputs(this.watch.config, id) : null);
    for (const state of cooldownsEnded(states.values(), now, inputsOf)) {
      const id = state.certId;
      try {
        await deps.store.putCertState({ ...state, retryAt: null });
      } catch (err) {
        deps.log.error(`scheduler: ${id}: cannot end its cooldown: ${describeError(err)}`);
        continue;
      }
      this.unsettle(id);
      scoped(deps.log, { cert: id }).info(`${id}: what it is ordered with changed since its renewal failed: cooldown until ${state.retryAt.toISOString()} ended, tried again at its next look if it is due`);
    }
  }

  /** The cert's failure state while its cooldown lasts, else null. */
  private async coolingDown(certId: string): Promise<(CertState & { retryAt: Date }) | null> {
    const state = await this.deps.store.getCertState(certId);
    return state?.retryAt && state.retryAt > this.deps.clock.now() ? (state as CertState & { retryAt: Date }) : null;
  }

  private launch(cert: WatchedCert, trigger: Trigger, decision: Decision, newKey = false): { renewalId: string; installOnly: boolean } | null {
    // Asked again right before each launch: a tick of thousands outlasts a lease.
    if (!this.deps.leadership.isLeader()) return null;
    const opts: StartOptions = { installOnly: decision.action === "install" ? decision.targets : undefined, reason: decision.reason, newKey, onRun: this.followUp };
    const started = this.deps.runner.start(cert, trigger, opts);
    if (!started) return null;
    return { renewalId: started.renewalId, installOnly: opts.installOnly !== undefined };
  }

  /**
   * What follows a launched renewal, attached when its run begins, not when it is queued: a
   * first issuance queues every cert at once, and this is one function for all of them.
   */
  private readonly followUp = (id: string, run: Promise<RunOutcome>): void => {
    // A renewal process that died (OOM, SIGKILL) left its challenges journaled: remove them now, not at the next tick.
    const after = run
      .then(async (outcome) => {
        this.unsettle(id);
        if (this.stopped) return;
        await this.sweepJournal();
        // Looked at with the cert as configured now: a reload may have changed or removed it meanwhile.
        const current = this.byId.get(id);
        if (!current) return;
        await this.refresh(current, outcome.ok);
        // A new certificate: its CA is asked about it when it advises (the store read only then), and the timer set for its moment.
        if (this.poller && this.adviser(current)) this.pollIfDue(current, (await this.deps.store.latestIssuedSummaries([id])).get(id) ?? null);
        if (!this.stopped) this.moments.arm();
      })
      .catch((err) => this.deps.log.error(`scheduler: ${id}: ${describeError(err)}`))
      .finally(() => this.refreshing.delete(after));
    this.refreshing.add(after);
  };

  /**
   * Reads every target and the store, and records the decision: what `look()`, `rota list`
   * and the pages show. It never starts a run, and may be called on any node at any time
   * (InstallSyncTask calls it on followers, whose ticks look at nothing, after each sync);
   * only the leader stores the plan it makes. Each read-back is bounded
   * (read-back.ts). A target that cannot be read, or times out, is recorded with why and left
   * out of the decision, so one unreachable target (a NAS that is down) does not hold back the
   * others; only when no target can be read is the cert left alone.
   * `renewed`: a renewal has just succeeded, so the time the cert has been due starts again.
   * `stored`: the store's summaries read for a batch of certs by the tick, this one's among them;
   * the batch is also the sweep its read-backs belong to, so targets may answer from change hints.
   * A look taken here never settles the cert: the next sweep looks at it again.
   */
  async refresh(cert: WatchedCert, renewed = false, stored?: Map<string, CertSummary>): Promise<CertLook> {
    try {
      return await this.take(cert, renewed, stored);
    } finally {
      this.unsettle(cert.config.id);
    }
  }

  /** `refresh()`'s look, which a tick may settle the cert on. */
  private async take(cert: WatchedCert, renewed: boolean, stored?: Map<string, CertSummary>): Promise<CertLook> {
    const { deps } = this;
    const id = cert.config.id;
    const threshold = resolveThreshold(cert.config.renewThresholdDays, this.watch.config.daemon.renewThresholdDays);
    const before = renewed ? undefined : this.looks.get(id);
    let decision: Decision | null = null;
    let error: string | null = null;
    const targets: TargetLook[] = [];
    let latestSerial: string | null = null;
    let ari: AriRecord | null = null;
    try {
      for (const t of cert.installs) {
        let target: TargetLook;
        try {
          const known = this.parsedLeaf(id, t.name)?.key;
          target = await this.lookAt(t, cert, await readTarget(t, id, deps.store, this.stopSignal.signal, deps.clock, { sweep: stored, known }));
        } catch (err) {
          // The other targets are still read: the decision goes on what they serve.
          targets.push({ target: t.name, installed: null, error: describeError(err) });
          if (this.stopSignal.signal.aborted) break;
          continue;
        }
        targets.push(target);
      }
      error = targets.find((t) => t.error !== undefined)?.error ?? null;
      const latest = (stored ?? (await deps.store.latestIssuedSummaries([id]))).get(id) ?? null;
      latestSerial = latest?.serial ?? null;
      await this.loadPlans([id]);
      const plan = this.plans.get(id) ?? null;
      ari = latest && plan?.serial === latest.serial ? plan.ari : null;
      const readable = targets.filter((t) => t.error === undefined);
      if (readable.length > 0 || targets.length === 0) {
        const want = { keyType: cert.config.keyType, domains: cert.config.domains, ...(cert.impliedNames ? { implied: cert.impliedNames } : {}) };
        const window = latest && ari?.window ? { serial: latest.serial, window: ari.window } : null;
        decision = decide({ now: deps.clock.now(), certId: id, threshold, ari: window, targets: readable, latest, want });
        this.warnLongThreshold(id, threshold, latest ?? readable.find((t) => t.installed)?.installed ?? null);
        await this.keepPlan(id, planOf(id, latest, decision, plan));
      }
    } catch (err) {
      error = describeError(err);
    }
    if (error !== null && !this.stopped) scoped(deps.log, { cert: id }).error(`scheduler: ${id}: ${error}`);
    const needsWork = decision === null || decision.action !== "none";
    const fresh: CertLook = { decision, threshold, ari, error, targets, latestSerial, dueSince: needsWork ? (before?.dueSince ?? deps.clock.now()) : null };
    const look = keepLook(before, fresh);
    // A reload may have dropped the cert while its targets were being read.
    if (this.byId.has(id)) {
      this.looks.set(id, look);
      this.looked.add(id);
      this.moments.set(id, nextMoment(look, this.poller !== null && this.adviser(cert) !== undefined, deps.clock.now()));
      // Cooling down after a failure, it is tried again when the cooldown ends, not at the sweep after: a look after a
      // failed renewal or a refused `rota renew` would otherwise drop that moment.
      const cooling = needsWork ? await this.coolingDown(id) : null;
      if (cooling) this.moments.note(id, cooling.retryAt);
    }
    return look;
  }

  /** Stores the cert's plan when it differs from the one stored; the leader's alone, so followers never race it. */
  private async keepPlan(id: string, next: RenewalPlan | null): Promise<void> {
    const have = this.plans.get(id) ?? null;
    if (!next || samePlan(have, next) || !this.byId.has(id) || !this.deps.leadership.isLeader()) return;
    this.plans.set(id, next);
    try {
      await this.deps.store.putRenewalPlan(next);
    } catch (err) {
      this.deps.log.error(`scheduler: ${id}: cannot store its renewal plan: ${describeError(err)}`);
    }
  }

  /** Says once per certificate that its explicit threshold is at least half its lifetime. */
  private warnLongThreshold(id: string, threshold: Threshold | null, cert: CertSummary | null): void {
    if (!threshold || !cert) return;
    const warning = longThresholdWarning(threshold, (cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000);
    if (!warning || this.warned.get(id) === cert.serial) return;
    this.warned.set(id, cert.serial);
    scoped(this.deps.log, { cert: id }).warn(`${id}: ${warning}`);
  }

  /**
   * One target's look from its read-back. With `verify_served`, the endpoints are asked too:
   * one serving an older certificate than the files (a server restarted from an old file, a
   * reload reverted) is what the target serves. An endpoint that cannot be asked is said
   * (`unverified`) without holding the cert back: a server down must not stop renewals.
   */
  private async lookAt(t: InstallBackend, cert: WatchedCert, served: Served): Promise<TargetLook> {
    const id = cert.config.id;
    if (served.state === "damaged") return { target: t.name, installed: null, damaged: served.reason };
    if (served.state === "absent") return { target: t.name, installed: null };
    const installed = served.state === "recorded" ? served.installed : served.state === "unchanged" ? this.kept(id, t.name, served.stamp) : this.summarize(id, t.name, served.leafPem, served.stamp);
    if (!installed) return { target: t.name, installed: null, damaged: "the installed certificate cannot be parsed" };
    if (!canProbeServed(t)) return { target: t.name, installed };
    const look: TargetLook = { target: t.name, installed };
    const unverified: string[] = [];
    for (const s of await t.probeServed({ certId: id, domains: cert.config.domains }, this.stopSignal.signal)) {
      // Endpoints answer with whatever they serve now: parsed each look, keyed by their text.
      const summary = "error" in s ? null : this.summarize(id, `${t.name} ${s.endpoint}`, s.leafPem, undefined);
      if (!summary) unverified.push(`${s.endpoint}: ${"error" in s ? s.error : "serves a certificate that cannot be parsed"}`);
      // The oldest any endpoint serves; one issued after the files' (put there by hand) is left alone, as decide() does.
      else if (summary.serial !== look.installed!.serial && !issuedAfter(summary, look.installed!)) {
        look.installed = summary;
        look.servedAt = s.endpoint;
      }
    }
    if (unverified.length > 0) look.unverified = unverified.join("; ");
    return look;
  }

  /** The leaf kept for `target` under `stamp`, which a read-back answering `unchanged` named; a throw (none kept) leaves the cert alone until the next look. */
  private kept(certId: string, target: string, stamp: string): CertSummary {
    const cached = this.parsedLeaf(certId, target);
    if (cached?.key !== stamp) throw new RotaError("read_failed", `${target}: answered unchanged for a leaf not kept here`);
    return cached.summary;
  }

  /**
   * The leaf `target` serves for `certId`: parsed again only when its stamp (or, from a
   * backend without one, its text) differs from the last look's. Null when it cannot be
   * parsed (the target then counts as damaged, and gets re-installed).
   */
  private summarize(certId: string, target: string, pem: string, stamp: string | undefined): CertSummary | null {
    const key = stamp ?? pem;
    const cached = this.parsedLeaf(certId, target);
    if (cached?.key === key) return cached.summary;
    let summary;
    try {
      summary = (this.deps.summarize ?? summarizeCert)(pem);
    } catch (err) {
      this.deps.log.warn(`scheduler: ${target}: installed certificate cannot be parsed, treating the target as damaged: ${describeError(err)}`);
      return null;
    }
    // A reload may have dropped the cert while its targets were being read.
    if (!this.byId.has(certId)) return summary;
    const parsed = { target, key, summary };
    const byTarget = this.parsed.get(certId);
    if (!byTarget) this.parsed.set(certId, [parsed]);
    else if (cached) byTarget[byTarget.indexOf(cached)] = parsed;
    else byTarget.push(parsed);
    return summary;
  }

  /**
   * The leaf kept for one target of a cert. An array per cert, not a Map: a cert has a
   * target or two, and a Map's storage is about 800 bytes (8 MB at 10,000 certs).
   */
  private parsedLeaf(certId: string, target: string): Parsed | undefined {
    return this.parsed.get(certId)?.find((p) => p.target === target);
  }

  /**
   * Removes challenges journaled by renewals no longer running (a crash, or a failed
   * removal), within its budget, and cut short by stop(): what is left waits for the next sweep.
   */
  private async sweepJournal(): Promise<void> {
    const budget = new AbortController();
    const cancel = this.deps.clock.setTimeout(() => budget.abort(new Error("journal sweep: out of time")), SWEEP_BUDGET_MS);
    try {
      const signal = AbortSignal.any([this.stopSignal.signal, budget.signal]);
      const find = this.deps.findDcvs?.(this.watch) ?? configuredDcvs(this.watch.dcvs);
      await this.deps.journal.recover(find, this.deps.log, signal, {
        now: this.deps.clock.now(),
        retryBaseMs: this.watch.config.daemon.checkIntervalSeconds * 1000,
        skip: this.deps.runner.activeRenewalIds(),
      });
    } finally {
      cancel();
    }
  }
}

/** The decision, saying the CA's window moved its moment from `was` when that is what makes it due. */
function movedEarlier(decision: Decision, was: Date): Decision {
  return decision.action === "renew" && decision.why === "ari" ? { ...decision, reason: `ARI window moved earlier (was ${was.toISOString()}): ${decision.reason}` } : decision;
}

function sameWindow(a: AriWindow | null, b: AriWindow | null): boolean {
  if (!a || !b) return a === b;
  return a.start.getTime() === b.start.getTime() && a.end.getTime() === b.end.getTime();
}

// A loop, not a Map made from an array of pairs: 10,000 pairs fewer to make and collect.
function byIdOf(watch: Watchlist): Map<string, WatchedCert> {
  const byId = new Map<string, WatchedCert>();
  for (const c of watch.certs) byId.set(c.config.id, c);
  return byId;
}

function targetsOf(watch: Watchlist): InstallBackend[] {
  const targets = new Set<InstallBackend>();
  // The watchlist shares one array among the certs that name the same targets: a run of them is walked once.
  let last: InstallBackend[] | null = null;
  for (const c of watch.certs) {
    if (c.installs === last) continue;
    last = c.installs;
    for (const t of c.installs) targets.add(t);
  }
  return [...targets];
}

/** Whether a reload left what every cert's look rests on as it was: the daemon's threshold and the CA sections (advice, implied names). */
function sameShared(a: Watchlist, b: Watchlist): boolean {
  return a.config.daemon.renewThresholdDays === b.config.daemon.renewThresholdDays && Bun.deepEquals(a.config.cas, b.config.cas);
}

/** Whether a reload left the cert as it was: its config, the same target instances, what its CA adds. */
function sameWatched(a: WatchedCert | undefined, b: WatchedCert): boolean {
  return (
    a !== undefined &&
    a.installs.length === b.installs.length &&
    a.installs.every((t, i) => t === b.installs[i]) &&
    a.minRenewalSeconds === b.minRenewalSeconds &&
    Bun.deepEquals(a.impliedNames, b.impliedNames) &&
    Bun.deepEquals(a.config, b.config)
  );
}
