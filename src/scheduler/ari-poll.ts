/**
 * @module When the scheduler asks a CA for ARI advice (RFC 9773), and how many at once:
 * only a cert's newest stored certificate, never after its notAfter, when its last answer
 * says so (`nextPollAt`), at most four polls at once, in the background so a sweep never
 * waits on a CA. A non-forced `rota renew` asks at once, at most once per 10 s per cert.
 */
import type { CaAdvisor, AriAnswer } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import type { BackendSection } from "../config/schema.ts";
import { describeError } from "../errors.ts";
import { logsDebug, type Logger } from "../log.ts";
import type { AriRecord, AuditStore, RenewalPlan } from "../store/types.ts";
import { Limiter } from "./limiter.ts";

/** Polls running at once, whatever the number of certs due for one. */
const MAX_POLLS = 4;
/** A `rota renew` asks the CA again at most this often per cert: a script looping on it must not hammer the CA. */
const MANUAL_POLL_GAP_MS = 10_000;
/** How long until a CA that gives no ARI for a certificate (no renewalInfo, no AKI) is asked again. */
const NO_ARI_RETRY_MS = 24 * 3600_000;

/** The CA advisors the scheduler may ask; `Advisors` in the daemon. */
export interface AdviceSource {
  /** Whether `ca`'s type gives advice at all: cheap, so a sweep of thousands asks it per cert. */
  advises(ca: BackendSection): boolean;
  for(ca: BackendSection): Promise<CaAdvisor | null>;
}

/** What one answer means for the plan: the window, or why none, and when to ask again. */
export function ariRecordOf(answer: AriAnswer, now: Date, notAfter: Date): AriRecord {
  if (answer.ari) return { certId: answer.certId, window: answer.window, explanationUrl: answer.explanationUrl, polledAt: answer.polledAt, nextPollAt: answer.nextPollAt, error: answer.error };
  return { certId: null, window: null, explanationUrl: null, polledAt: now, nextPollAt: new Date(Math.min(now.getTime() + NO_ARI_RETRY_MS, notAfter.getTime())), error: answer.reason };
}

/** Whether the newest certificate (`serial`, expiring at `notAfter`) is due for a poll, given the cert's plan. */
export function pollDue(plan: RenewalPlan | null | undefined, latest: { serial: string; notAfter: Date }, now: Date): boolean {
  if (latest.notAfter <= now) return false;
  if (!plan || plan.serial !== latest.serial || !plan.ari) return true;
  return plan.ari.nextPollAt <= now;
}

export interface PollerDeps {
  advice: AdviceSource;
  store: Pick<AuditStore, "latestIssued">;
  clock: Clock;
  log: Logger;
  /** Aborted when the scheduler stops: polls in flight give up. */
  signal: AbortSignal;
}

/** What the poller hands back: the answer for the certificate with `serial`; `manual` when a `rota renew` asked (it decides itself). */
export type OnAnswer = (certId: string, serial: string, record: AriRecord, manual: boolean) => void;

export class AriPoller {
  private readonly limiter = new Limiter(MAX_POLLS);
  private readonly inFlight = new Map<string, Promise<AriRecord | null>>();
  private readonly lastManual = new Map<string, number>();

  constructor(
    private readonly deps: PollerDeps,
    private readonly onAnswer: OnAnswer,
  ) {}

  /** Whether a poll of the cert runs or waits for a slot. */
  polling(certId: string): boolean {
    return this.inFlight.has(certId);
  }

  /** Polls in the background unless one runs; the answer goes to `onAnswer`. */
  start(certId: string, ca: BackendSection, serial: string): void {
    if (this.inFlight.has(certId)) return;
    void this.run(certId, ca, serial, false);
  }

  /**
   * Polls now for a `rota renew` and resolves once the answer went to `onAnswer` (null when
   * none was asked for: asked less than 10 s ago, or the CA gives no advice).
   */
  async now(certId: string, ca: BackendSection, serial: string): Promise<AriRecord | null> {
    const running = this.inFlight.get(certId);
    if (running) return running;
    const at = this.deps.clock.now().getTime();
    const last = this.lastManual.get(certId);
    if (last !== undefined && at - last < MANUAL_POLL_GAP_MS && at >= last) return null;
    this.lastManual.set(certId, at);
    return this.run(certId, ca, serial, true);
  }

  /** Forgets certs no longer watched. */
  retain(certIds: ReadonlySet<string>): void {
    for (const id of this.lastManual.keys()) if (!certIds.has(id)) this.lastManual.delete(id);
  }

  private run(certId: string, ca: BackendSection, serial: string, manual: boolean): Promise<AriRecord | null> {
    const p = this.poll(certId, ca, serial, manual)
      .catch((err) => {
        this.deps.log.warn(`ari: ${certId}: poll failed: ${describeError(err)}`);
        return null;
      })
      .finally(() => this.inFlight.delete(certId));
    this.inFlight.set(certId, p);
    return p;
  }

  private async poll(certId: string, ca: BackendSection, serial: string, manual: boolean): Promise<AriRecord | null> {
    const { deps } = this;
    const release = await this.limiter.acquire(deps.signal);
    try {
      const advisor = await deps.advice.for(ca);
      const issued = await deps.store.latestIssued(certId);
      // Renewed while it waited: the next look asks about the new certificate.
      if (!advisor || !issued || issued.serial !== serial) return null;
      // A CA that accepts and never answers holds a `rota renew` for the request's timeout: the debug log says why.
      const asked = performance.now();
      if (logsDebug(deps.log)) deps.log.debug(`ari: ${certId}: asking ca ${ca.name} for renewal information${manual ? " (rota renew)" : ""}`);
      const record = ariRecordOf(await advisor.poll(issued.leafPem, deps.signal), deps.clock.now(), issued.notAfter);
      if (logsDebug(deps.log)) {
        const said = record.error ? `no usable answer: ${record.error}` : record.window ? `window ${record.window.start.toISOString()} to ${record.window.end.toISOString()}` : "no window";
        deps.log.debug(`ari: ${certId}: ca ${ca.name}: ${said} (${Math.round(performance.now() - asked)} ms)`);
      }
      if (deps.signal.aborted) return null;
      this.onAnswer(certId, serial, record, manual);
      return record;
    } finally {
      release();
    }
  }
}
