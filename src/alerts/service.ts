/**
 * @module The daemon's alerting: owns the configured sinks, turns bus events into alerts
 * (routing and the repeat limit in router.ts, delivery in dispatcher.ts), emits
 * `cert.expiring` at each check interval and `cert.recovered` after a failure, and sends
 * test alerts on request. The bus listener only queues work: a renewal never waits on it.
 * In a cluster the `cert.expiring` check and the shared repeat limit are the leader's alone
 * (issue 17): every node sees the same certs, and only one should say so.
 */
import { hostname } from "node:os";
import type { CertSource } from "../api/ports.ts";
import type { BackendContext } from "../backends/context.ts";
import { ALERT_TYPES } from "../backends/registry.ts";
import type { AlertBackend } from "../backends/types.ts";
import type { Cancel } from "../clock.ts";
import type { AlertSection, RotaConfig } from "../config/schema.ts";
import { describeError } from "../errors.ts";
import type { EventBus, RotaEvent, StoreEvent } from "../events.ts";
import type { Logger } from "../log.ts";
import { singleNode, type Leadership } from "../scheduler/leadership.ts";
import type { AuditStore } from "../store/types.ts";
import { buildAlert } from "./build.ts";
import { severityOf } from "./catalogue.ts";
import { DISPATCH_DEFAULTS, Dispatcher, type DeliveryResult } from "./dispatcher.ts";
import { expiringDays, type ExpiringInput } from "./expiring.ts";
import { LeaderAlertLimits } from "./limits.ts";
import { AlertRouter } from "./router.ts";

const DAY_MS = 86_400_000;
/** Certs whose stored summaries the expiry check reads in one statement (as the scheduler's tick does). */
const EXPIRING_BATCH = 256;
/** Shutdown gives deliveries under way this long (issue 8: the whole stop fits in 5 s). */
const SHUTDOWN_GRACE_MS = 1_000;

export interface AlertServiceDeps {
  bus: EventBus;
  store: AuditStore;
  certs: Pick<CertSource, "certs" | "find" | "look">;
  ctx: BackendContext;
  log: Logger;
  /** Whether this node leads its cluster now; `singleNode` (always) without `[cluster]`. */
  leadership?: Leadership;
}

/** The configured sinks, built: a section unchanged across a reload keeps its instance. */
export type Sinks = Map<string, { section: AlertSection; backend: AlertBackend }>;

type ClusterEvent = Extract<RotaEvent, { type: "cluster.leader_acquired" | "cluster.leader_lost" | "cluster.install_refused" }>;

/** Why a node stopped leading, as an alert says it. */
const LOST_WHY: Record<Extract<RotaEvent, { type: "cluster.leader_lost" }>["reason"], string> = {
  step_down: "it stepped down (rota cluster step-down)",
  refresh_failed: "it could not refresh the lease in time (the database unreachable or slow)",
  superseded: "another node holds the lease",
  shutdown: "its daemon is stopping",
};

/** Events the sinks may hear of; the others (steps, starts) are not alert material. */
type Alertable = Extract<RotaEvent, { type: "renewal.failed" | "renewal.succeeded" | "cert.expiring" | "cert.recovered" | "target.action_required" | "cert.halted" | "cert.resumed" }>;

export class AlertService {
  private readonly router: AlertRouter;
  private readonly dispatcher: Dispatcher;
  /** `node` of every alert: the cluster's node id, else the host name. */
  private readonly node: string;
  private readonly leadership: Leadership;
  /** Events are routed one at a time: the repeat limit is read, then written. */
  private lane: Promise<void> = Promise.resolve();
  private cancelTick: Cancel = () => {};
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly deps: AlertServiceDeps,
    private config: RotaConfig,
    private sinks: Sinks,
  ) {
    const { store, ctx, log } = deps;
    this.node = config.cluster.enabled ? config.cluster.nodeId : hostname();
    this.leadership = deps.leadership ?? singleNode;
    this.router = new AlertRouter(new LeaderAlertLimits(store, this.leadership), ctx.clock);
    this.dispatcher = new Dispatcher({ store, clock: ctx.clock, log, ...DISPATCH_DEFAULTS });
    this.unsubscribe = deps.bus.subscribe((e) => this.heard(e));
    this.arm();
  }

  static async start(deps: AlertServiceDeps, config: RotaConfig): Promise<AlertService> {
    return new AlertService(deps, config, await buildSinks(config, deps.ctx));
  }

  /** Builds the sinks `config` names, reusing unchanged ones; throws, changing nothing, when one cannot be built. */
  build(config: RotaConfig): Promise<Sinks> {
    return buildSinks(config, this.deps.ctx, this.sinks);
  }

  /** Runs on `config` with `sinks` (from `build`) from now on. */
  use(config: RotaConfig, sinks: Sinks): void {
    const intervalChanged = config.daemon.checkIntervalSeconds !== this.config.daemon.checkIntervalSeconds;
    this.config = config;
    this.sinks = sinks;
    if (intervalChanged) this.arm();
  }

  sinkNames(): string[] {
    return [...this.sinks.keys()];
  }

  /**
   * Sends `alert.test` to one sink or all, past the routing and the repeat limit, and
   * resolves with each sink's outcome. The caller has checked that the sink and cert exist.
   */
  async test(opts: { sink: string | null; certId: string | null }): Promise<DeliveryResult[]> {
    const at = this.deps.ctx.clock.now();
    this.deps.bus.emit({ type: "alert.test", certId: opts.certId, sink: opts.sink, at });
    const targets = [...this.sinks.values()].filter((s) => opts.sink === null || s.section.name === opts.sink);
    return Promise.all(
      targets.map(async (s) => {
        const alert = await this.render({ type: "alert.test", certId: opts.certId, at }, "info", null, null);
        return this.dispatcher.deliver(alert, s.backend);
      }),
    );
  }

  /** No new alerts; deliveries under way get a second, then are recorded as not sent. */
  async stop(): Promise<void> {
    this.cancelTick();
    this.unsubscribe();
    await this.lane;
    await this.dispatcher.stop(SHUTDOWN_GRACE_MS);
    // Alerts recorded as not sent take their hold back before the store closes.
    await this.lane;
  }

  private arm(): void {
    this.cancelTick();
    this.cancelTick = this.deps.ctx.clock.setInterval(() => this.queue(() => this.checkExpiring()), this.config.daemon.checkIntervalSeconds * 1000);
  }

  private heard(e: RotaEvent): void {
    switch (e.type) {
      case "renewal.failed":
        // Cancelled by shutdown: nothing went wrong with the cert.
        if (!e.interrupted) this.queue(() => this.route(e));
        return;
      case "renewal.succeeded":
        this.queue(() => this.succeeded(e));
        return;
      case "cert.expiring":
      case "cert.recovered":
      case "target.action_required":
      case "cert.halted":
      case "cert.resumed":
        this.queue(() => this.route(e));
        return;
      case "store.disconnected":
      case "store.reconnected":
        this.queue(() => this.storeEvent(e));
        return;
      case "cluster.leader_acquired":
      case "cluster.leader_lost":
      case "cluster.install_refused":
        this.queue(() => this.clusterEvent(e));
        return;
      default:
        return;
    }
  }

  private queue(work: () => Promise<void>): void {
    this.lane = this.lane.then(work).catch((err) => this.deps.log.error(describeError(err)));
  }

  /** A success after a failed renewal, or while a failure alert stands, is a recovery. */
  private async succeeded(e: Extract<RotaEvent, { type: "renewal.succeeded" }>): Promise<void> {
    await this.route(e);
    // Heads only: after every success, the steps of ten renewals were read for their statuses.
    const recent = await this.deps.store.listRenewalHeads({ certId: e.certId, limit: 10 });
    const previous = recent.find((r) => r.id !== e.renewalId && (r.status === "failed" || r.status === "succeeded"));
    const standing = await this.router.standing(e.certId, [...this.sinks.values()].map((s) => s.section));
    if (previous?.status === "failed" || standing) this.deps.bus.emit({ type: "cert.recovered", certId: e.certId, renewalId: e.renewalId, at: this.deps.ctx.clock.now() });
  }

  private async route(e: Alertable): Promise<void> {
    const notAfter = await this.notAfterOf(e);
    const daysLeft = notAfter ? Math.floor((notAfter.getTime() - e.at.getTime()) / DAY_MS) : null;
    const severity = severityOf(e.type, daysLeft, this.config.daemon.expiryWarningDays);
    const error = e.type === "renewal.failed" ? e.error : e.type === "target.action_required" ? `${e.target}: ${e.message}` : e.type === "cert.halted" ? e.lastError : null;
    const detail = e.type === "target.action_required" ? error : e.type === "cert.halted" ? haltDetail(e) : null;
    for (const { section, backend } of this.sinks.values()) {
      const send = await this.router.route({ type: e.type, certId: e.certId, severity, error }, section);
      if (!send) continue;
      const { claim } = send;
      // The repeat limit counts alerts that arrived: one that did not is taken back, in turn with the routing.
      // One some recipients got stays counted, or they would hear of every failure while another address bounces.
      const settled = claim
        ? (r: DeliveryResult) => {
            if (r.outcome !== "delivered" && !r.partly) this.queue(() => this.router.undelivered(claim));
          }
        : undefined;
      this.dispatcher.enqueue(await this.render({ ...e, error, detail }, severity, send.repeats, send.lastHeldError, notAfter), backend, settled);
    }
  }

  /**
   * The audit store's connection, lost or back. Routed without reading the store (an event
   * without a cert has no repeat limit to look up), since it may be the store that is away.
   */
  private async storeEvent(e: StoreEvent): Promise<void> {
    const severity = severityOf(e.type, null, this.config.daemon.expiryWarningDays);
    const detail = e.type === "store.disconnected" ? e.error : `${e.flushed} buffered write(s) stored${e.dropped > 0 ? `, ${e.dropped} dropped (buffer_max_writes reached)` : ""}`;
    for (const { section, backend } of this.sinks.values()) {
      const send = await this.router.route({ type: e.type, certId: null, severity, error: null }, section);
      if (send) this.dispatcher.enqueue(await this.render({ type: e.type, certId: null, at: e.at, detail }, severity, null, null), backend);
    }
  }

  /**
   * A lease won or lost, or a stored certificate this node would not install. Lease events
   * are routed without reading the store: a lease is lost when the database is away.
   */
  private async clusterEvent(e: ClusterEvent): Promise<void> {
    const severity = severityOf(e.type, null, this.config.daemon.expiryWarningDays);
    const certId = e.type === "cluster.install_refused" ? e.certId : null;
    const detail =
      e.type === "cluster.leader_acquired"
        ? `${e.nodeId} leads the cluster now, at term ${e.term}`
        : e.type === "cluster.leader_lost"
          ? `${e.nodeId} stopped leading the cluster at term ${e.term}: ${LOST_WHY[e.reason]}`
          : `${e.nodeId} did not install ${e.certId}'s certificate ${e.serial}: ${e.reason}; it keeps serving the one it has`;
    for (const { section, backend } of this.sinks.values()) {
      const send = await this.router.route({ type: e.type, certId, severity, error: null }, section);
      if (send) this.dispatcher.enqueue(await this.render({ type: e.type, certId, at: e.at, detail }, severity, null, null), backend);
    }
  }

  /** The expiry an alert states: the event's own, the certificate a recovery just issued, or what the scheduler last saw served. */
  private async notAfterOf(e: Alertable): Promise<Date | null> {
    if (e.type === "cert.expiring" || e.type === "renewal.succeeded") return e.notAfter;
    const seen = this.deps.certs.look(e.certId)?.decision?.notAfter ?? null;
    // The scheduler's last look predates the renewal that recovered the cert.
    if (e.type === "cert.recovered") return (await this.deps.store.latestIssued(e.certId))?.notAfter ?? seen;
    return seen;
  }

  private async render(
    e: { type: string; certId: string | null; at: Date; renewalId?: string; error?: string | null; detail?: string | null },
    severity: ReturnType<typeof severityOf>,
    repeats: { count: number; since: Date } | null,
    lastHeldError: string | null,
    notAfter: Date | null = null,
  ) {
    const { store, certs } = this.deps;
    const watched = e.certId === null ? undefined : certs.find(e.certId);
    const served = notAfter ?? (e.certId === null ? null : (certs.look(e.certId)?.decision?.notAfter ?? null));
    const stored = e.renewalId ? await store.getRenewal(e.renewalId) : null;
    const state = e.certId === null ? null : await store.getCertState(e.certId);
    return buildAlert({
      id: crypto.randomUUID(),
      type: e.type,
      severity,
      at: e.at,
      node: this.node,
      cert: e.certId === null ? null : { id: e.certId, domains: watched?.config.domains ?? [], notAfter: served },
      // The event is the truth: the audit row of a renewal that just ended may not be closed yet.
      renewal: stored
        ? {
            id: stored.id,
            trigger: stored.trigger,
            status: e.type === "renewal.failed" ? "failed" : e.type === "cert.recovered" || e.type === "renewal.succeeded" ? "succeeded" : stored.status,
            failedStep: stored.events.find((s) => s.status === "failed")?.step ?? null,
            error: e.error ?? stored.error,
          }
        : null,
      retryAt: e.type === "renewal.failed" || e.type === "cert.expiring" ? (state?.retryAt ?? null) : null,
      repeats,
      lastHeldError,
      detail: e.detail ?? null,
      publicUrl: this.config.http.publicUrl,
    });
  }

  /**
   * At each check interval: every cert the scheduler last saw close to expiry, and not renewed
   * for longer than one interval. Only the certs that may be expiring are read from the store
   * (their lifetime), as summaries, a batch of certs per statement, yielding between batches.
   */
  private async checkExpiring(): Promise<void> {
    if (!this.leadership.isLeader()) return;
    const { certs, store, ctx, bus } = this.deps;
    const now = ctx.clock.now();
    const { expiryWarningDays, checkIntervalSeconds } = this.config.daemon;
    // A known lifetime only lowers the limit: a cert that is not expiring without one is not
    // with one either, and needs no store read (in a healthy fleet, none does).
    const seen: { id: string; input: ExpiringInput; notAfter: Date }[] = [];
    for (const cert of certs.certs()) {
      const look = certs.look(cert.config.id);
      const notAfter = look?.decision?.notAfter ?? null;
      // Only a cert that needs work can be expiring: an interval of a healthy fleet builds nothing per cert here.
      if (!look?.dueSince || !notAfter) continue;
      const input = { now, notAfter, lifetimeDays: null, dueSince: look.dueSince, expiryWarningDays, checkIntervalSeconds };
      if (expiringDays(input) !== null) seen.push({ id: cert.config.id, input, notAfter });
    }
    for (let i = 0; i < seen.length; i += EXPIRING_BATCH) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = seen.slice(i, i + EXPIRING_BATCH);
      const issued = await store.latestIssuedSummaries(batch.map((c) => c.id));
      for (const { id, input, notAfter } of batch) {
        const latest = issued.get(id);
        const lifetimeDays = latest && latest.notAfter.getTime() === notAfter.getTime() ? (latest.notAfter.getTime() - latest.notBefore.getTime()) / DAY_MS : null;
        const days = expiringDays({ ...input, lifetimeDays });
        if (days !== null) bus.emit({ type: "cert.expiring", certId: id, daysLeft: days, notAfter, at: now });
      }
    }
  }
}

/** What a halt alert says to do, with the CA's last word. */
function haltDetail(e: Extract<RotaEvent, { type: "cert.halted" }>): string {
  return `stopped retrying after ${e.failures} authorization failures in a row (${e.lastError}); fix its DCV, then rota renew ${e.certId} --force`;
}

async function buildSinks(config: RotaConfig, ctx: BackendContext, previous?: Sinks): Promise<Sinks> {
  const out: Sinks = new Map();
  for (const section of config.alerts) {
    const old = previous?.get(section.name);
    const keep = old && old.section.type === section.type && Bun.deepEquals(old.section.options, section.options);
    // Validation has checked every type against the same table.
    const backend = keep ? old.backend : await ALERT_TYPES[section.type]!.create(section.name, section.options, ctx);
    out.set(section.name, { section, backend });
  }
  return out;
}
