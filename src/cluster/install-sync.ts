/**
 * @module InstallSyncTask: on every cluster node, leader included, puts the newest stored
 * certificate on the node's own targets, with the node's own key (issue 17). The leader's
 * order carries one public key; a node holding another key refuses (`key_missing`,
 * `key_mismatch`, `key_invalid` from the pipeline's `key`/`verify` steps), installs nothing, and says so once
 * per (node, cert, serial). Failures and refusals back off in memory per (cert, serial), by
 * the cooldown formula: `cert_state` is shared by every node and belongs to the leader's orders.
 *
 * A pass runs at start, every `sync_interval_seconds`, and for the certs whose stored serial
 * differs from the one their last pass saw: the task compares them itself at each lease tick
 * (`checkSeconds`), one batched read of the store's summaries, so a follower installs a new
 * issuance within a tick without a long interval or help from the coordinator.
 */
import type { Cancel, Clock } from "../clock.ts";
import { RotaError, describeError, retryAfterOf } from "../errors.ts";
import type { EventBus } from "../events.ts";
import { scoped, type Logger } from "../log.ts";
import type { RunOutcome } from "../pipeline/renewer.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import { cooldownSeconds } from "../scheduler/cooldown.ts";
import { repairOf, type CertSummary, type Repair, type TargetState } from "../scheduler/due.ts";
import type { Runner } from "../scheduler/runner.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { AuditStore } from "../store/types.ts";
import type { ClusterCertBody, NodeCertsSource, NodeInstallFailure } from "./types.ts";

/** Error codes of the pipeline's cluster-mode `key`/`verify` steps that mean "this node's key cannot serve the leader's certificate". */
const REFUSALS = new Set(["key_missing", "key_mismatch", "key_invalid"]);
/** Certs whose stored summaries are read at once, as the scheduler's tick does. */
const STORE_BATCH = 256;

export interface InstallSyncDeps {
  /** `refresh`: the node's look at a cert (so `rota list` is right on a follower too); `watched`: the certs and daemon settings in force. */
  scheduler: Pick<Scheduler, "refresh" | "watched">;
  runner: Pick<Runner, "busy" | "start">;
  store: Pick<AuditStore, "latestIssuedSummaries">;
  bus: Pick<EventBus, "emit">;
  clock: Clock;
  log: Logger;
  /** `[cluster] node_id`, named by `cluster.install_refused`. */
  nodeId: string;
  /** `[cluster] sync_interval_seconds`: how often every cert is looked at. */
  syncIntervalSeconds: number;
  /** How often the stored serials are compared with the ones last looked at: the lease tick (`lock_ttl_seconds / 3`). */
  checkSeconds: number;
}

/** A failed or refused sync of one serial: not tried again before `retryAt`. */
type Backoff = NodeInstallFailure & { error: string };

export class InstallSyncTask implements NodeCertsSource {
  /** Each cert's state as its last look (or run) left it. */
  private readonly views = new Map<string, ClusterCertBody>();
  private readonly backoffs = new Map<string, Backoff>();
  /** Per cert, the serial whose refusal was said: once per (node, cert, serial). */
  private readonly refusedSerial = new Map<string, string>();
  private cancels: Cancel[] = [];
  private passing: Promise<void> | null = null;
  /** Asked for while a pass ran (every cert, or these): it runs right after. */
  private again: "all" | Set<string> | null = null;
  /** Whether the last serial check failed: an outage is said once, not at every tick. */
  private checkFailing = false;
  /** The last pass failed (said once, not at every interval of an outage). */
  private passFailing = false;
  private stopped = false;

  constructor(private readonly deps: InstallSyncDeps) {}

  start(): void {
    if (this.stopped) return;
    const { clock } = this.deps;
    this.request("all");
    this.cancels = [clock.setInterval(() => this.request("all"), this.deps.syncIntervalSeconds * 1000), clock.setInterval(() => void this.check(), this.deps.checkSeconds * 1000)];
  }

  /**
   * No pass starts after this is called, and no run is started after it; resolves once the
   * pass in progress has finished with the store. Runs already started are the runner's to stop.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.cancels) cancel();
    this.cancels = [];
    this.again = null;
    await this.idle();
  }

  /** Resolves once no pass runs or waits to run. Runs started are not waited for: their end asks for a pass of its own. */
  async idle(): Promise<void> {
    while (this.passing) await this.passing;
  }

  /**
   * This node's failure to install the cert's stored certificate, while it backs off from it
   * or waits to try again: the cert's failure state on this node (`rota list`, `--check`).
   */
  installFailure(certId: string): NodeInstallFailure | null {
    return this.backoffs.get(certId) ?? null;
  }

  /** The watched certs this node has looked at, in config order. */
  certs(): ClusterCertBody[] {
    return this.deps.scheduler
      .watched()
      .certs.map((c) => this.views.get(c.config.id))
      .filter((v): v is ClusterCertBody => v !== undefined);
  }

  /** A pass over every cert, or over `ids`; one asked for while a pass runs follows it. */
  private request(which: "all" | Iterable<string>): void {
    if (this.stopped) return;
    if (this.passing) {
      if (which === "all" || this.again === "all") this.again = "all";
      else this.again = new Set([...(this.again ?? []), ...which]);
      return;
    }
    this.passing = this.pass(which === "all" ? null : new Set(which))
      .then(
        () => {
          if (this.passFailing) this.deps.log.info("sync: passes work again");
          this.passFailing = false;
        },
        (err) => {
          // Once per outage: the database being away fails every pass until it is back.
          if (!this.passFailing) this.deps.log.error(`sync: pass failed: ${describeError(err)}; said once until a pass works`);
          this.passFailing = true;
        },
      )
      .finally(() => {
        this.passing = null;
        const again = this.again;
        this.again = null;
        if (again) this.request(again);
      });
  }

  /** Every cert whose stored serial is not the one its last look saw (a new issuance, or a cert not looked at yet) gets a pass. */
  private async check(): Promise<void> {
    if (this.stopped || this.passing) return;
    const ids = this.deps.scheduler.watched().certs.map((c) => c.config.id);
    let stored: Map<string, CertSummary>;
    try {
      stored = await this.storedSummaries(ids);
    } catch (err) {
      if (!this.checkFailing) this.deps.log.warn(`sync: cannot read the stored certificates: ${describeError(err)}`);
      this.checkFailing = true;
      return;
    }
    this.checkFailing = false;
    const changed = ids.filter((id) => (stored.get(id)?.serial ?? null) !== this.views.get(id)?.stored_serial);
    if (changed.length > 0) this.request(changed);
  }

  private async storedSummaries(ids: readonly string[]): Promise<Map<string, CertSummary>> {
    const all = new Map<string, CertSummary>();
    for (let i = 0; i < ids.length; i += STORE_BATCH) {
      for (const [id, s] of await this.deps.store.latestIssuedSummaries(ids.slice(i, i + STORE_BATCH))) all.set(id, s);
    }
    return all;
  }

  /** `only` null: every cert, and what is kept of certs no longer watched goes. */
  private async pass(only: ReadonlySet<string> | null): Promise<void> {
    const watch = this.deps.scheduler.watched();
    if (!only) {
      const ids = new Set(watch.certs.map((c) => c.config.id));
      for (const map of [this.views, this.backoffs, this.refusedSerial]) for (const id of map.keys()) if (!ids.has(id)) map.delete(id);
    }
    const certs = only ? watch.certs.filter((c) => only.has(c.config.id)) : watch.certs;
    for (let i = 0; i < certs.length; i += STORE_BATCH) {
      if (this.stopped) return;
      const batch = certs.slice(i, i + STORE_BATCH);
      const stored = await this.deps.store.latestIssuedSummaries(batch.map((c) => c.config.id));
      for (const cert of batch) {
        if (this.stopped) return;
        await this.syncCert(cert, stored);
      }
    }
  }

  /** Looks at one cert and starts an install-only run on its stale targets, unless a run holds it or its backoff lasts. */
  private async syncCert(cert: WatchedCert, stored: Map<string, CertSummary>): Promise<void> {
    const { deps } = this;
    const id = cert.config.id;
    // A run (a sync of ours, or the leader's renewal) installs on its own; its end brings the next look.
    if (deps.runner.busy(id)) return;
    const latest = stored.get(id) ?? null;
    const look = await deps.scheduler.refresh(cert, false, stored);
    const now = deps.clock.now();
    const readable = look.targets.filter((t) => t.error === undefined);
    const base = { id, stored_serial: latest?.serial ?? null, installed_serial: installedSerial(latest, readable), checked_at: now.toISOString() };
    if (!latest) {
      this.views.set(id, { ...base, state: "no_certificate", error: null });
      return;
    }
    // Not a target could be read: nothing is known to be behind, and nothing is installed blindly.
    if (readable.length === 0 && look.targets.length > 0) {
      this.views.set(id, { ...base, state: "failed", error: look.error });
      return;
    }
    const repair = repairOf(latest, readable);
    if (!repair) {
      this.views.set(id, { ...base, state: "in_sync", error: null });
      return;
    }
    const backoff = this.backoffFor(id, latest.serial);
    if (backoff && backoff.retryAt > now) {
      this.views.set(id, { ...base, state: backoff.refused ? "refused" : "failed", error: backoff.error });
      return;
    }
    const started = !this.stopped && this.launch(cert, latest.serial, repair);
    this.views.set(id, { ...base, state: started ? "syncing" : "behind", error: backoff?.error ?? null });
  }

  /** The cert's backoff while it is for `serial`; one for an older serial is forgotten: a new issuance is tried at once. */
  private backoffFor(id: string, serial: string): Backoff | undefined {
    const b = this.backoffs.get(id);
    if (b && b.serial !== serial) this.backoffs.delete(id);
    return b?.serial === serial ? b : undefined;
  }

  private launch(cert: WatchedCert, serial: string, repair: Repair): boolean {
    const id = cert.config.id;
    const startedAt = this.deps.clock.now();
    const started = this.deps.runner.start(cert, "sync", { installOnly: repair.targets, reason: repair.reason });
    if (!started) return false;
    scoped(this.deps.log, { cert: id, renewal: started.renewalId }).info(`${id}: installing serial ${serial} on ${repair.targets.join(", ")}: ${repair.reason}`);
    const run = { id: started.renewalId, certId: id, reason: repair.reason, startedAt };
    void started.done
      .then((outcome) => this.concluded(run, serial, outcome))
      .catch((err) => this.deps.log.error(`sync: ${id}: ${describeError(err)}`));
    return true;
  }

  /** Records how a sync run of `serial` ended, then looks at the cert again (what its targets serve now). */
  private concluded(run: { id: string; certId: string; reason: string; startedAt: Date }, serial: string, outcome: RunOutcome): void {
    const { deps } = this;
    const id = run.certId;
    if (outcome.ok) this.backoffs.delete(id);
    else if (!outcome.interrupted) {
      const refused = REFUSALS.has(outcome.error instanceof RotaError ? outcome.error.code : "");
      const error = describeError(outcome.error);
      const now = deps.clock.now();
      const failures = (this.backoffFor(id, serial)?.failures ?? 0) + 1;
      const d = deps.scheduler.watched().config.daemon;
      const wait = cooldownSeconds(failures, { baseSeconds: d.failureCooldownSeconds, maxSeconds: d.failureCooldownMaxSeconds }, retryAfterOf(outcome.error));
      const retryAt = new Date(now.getTime() + wait * 1000);
      const head = { ...run, trigger: "sync" as const, installOnly: true, status: "failed" as const, finishedAt: now, error, node: deps.nodeId };
      this.backoffs.set(id, { serial, failures, retryAt, error, refused, run: head });
      const log = scoped(deps.log, { cert: id });
      if (refused) log.error(`${id}: ${deps.nodeId} refuses to install serial ${serial}, tried again after ${retryAt.toISOString()}: ${error}`);
      else log.error(`${id}: installing serial ${serial} failed (${failures} in a row), tried again after ${retryAt.toISOString()}: ${error}`);
      if (refused && this.refusedSerial.get(id) !== serial) {
        this.refusedSerial.set(id, serial);
        deps.bus.emit({ type: "cluster.install_refused", nodeId: deps.nodeId, certId: id, serial, reason: error, at: now });
      }
    }
    this.request([id]);
  }
}

/**
 * What this node serves of the cert, by the targets it could read: the serial of the first
 * not serving the stored certificate (null when it serves none), else the stored one's.
 * With nothing stored, what the first serves; with no target read, null.
 */
function installedSerial(latest: CertSummary | null, targets: readonly TargetState[]): string | null {
  if (targets.length === 0) return null;
  const other = targets.find((t) => t.installed?.serial !== latest?.serial);
  if (other) return other.installed?.serial ?? null;
  return latest?.serial ?? null;
}
