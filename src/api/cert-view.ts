/**
 * @module A cert's status as the API reports it: a pure function of the scheduler's last
 * look, the runner, the store and the clock. The list, `rota status`, `--check`, the API and
 * the dashboard all judge a cert here. A look that found nothing to do is judged against now
 * too: when a look could not be taken since (the audit store's server away fails every
 * sweep), the certificate it saw still reaches its renewal moment and expires.
 */
import { toUnicode } from "../config/names.ts";
import { daysLeft } from "../scheduler/due.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import type { NodeInstallFailure } from "../cluster/types.ts";
import type { CertState, RenewalHead } from "../store/types.ts";
import { iso, renewalSummaryJson, windowJson, type CertJson, type CertStatus, type TargetJson } from "./json.ts";

export interface CertViewInput {
  id: string;
  domains: string[];
  now: Date;
  look: CertLook | undefined;
  busy: boolean;
  state: CertState | null;
  last: RenewalHead | undefined;
  /** Cluster mode: this node's failed or refused install of the stored certificate; null on a single node. */
  nodeFailure: NodeInstallFailure | null;
  nextTick: Date | null;
  /** The cert's install targets, in config order. */
  install: readonly string[];
  /** An `[[install]]` section's type by its name. */
  typeOf: (name: string) => string | undefined;
}

/** What a cert's status is made of. */
export type StatusInput = Pick<CertViewInput, "busy" | "look" | "state" | "now" | "nodeFailure">;

/**
 * The failure state and last renewal a cert is judged by on this node. On a cluster node whose
 * own install of the stored certificate failed or was refused, while putting that certificate
 * on its targets is the work the cert needs, that failure's: the shared `cert_state` is the
 * leader's orders', and a node that cannot install is as stuck as a single node whose install
 * failed (cooldown, then failed). Otherwise the store's.
 */
export function onThisNode(i: Pick<CertViewInput, "look" | "state" | "nodeFailure"> & { last?: RenewalHead }): { state: CertState | null; last: RenewalHead | undefined } {
  const f = i.nodeFailure;
  if (!f || i.look?.decision?.action !== "install" || f.serial !== i.look.latestSerial) return { state: i.state, last: i.last };
  return {
    state: { certId: f.run.certId, consecutiveFailures: f.failures, retryAt: f.retryAt, lastError: f.run.error, authzFailures: 0, haltedAt: null },
    last: f.run,
  };
}

/** Whether the cert's status depends on its failure state: only one that needs work has a status the state can change. */
export function statusNeedsState(i: Pick<CertViewInput, "busy" | "look" | "now">): boolean {
  return !i.busy && i.look !== undefined && (i.look.decision?.action !== "none" || overtaken(i.look, i.now) !== null);
}

/**
 * When the last look is overtaken by the clock: it found nothing to do, so it holds until
 * its renewal moment (never later than the certificate's notAfter); a look taken after that
 * finds the cert due. Null for a look that found work (or could not decide).
 */
function overtakenAt(look: CertLook | undefined): Date | null {
  const d = look?.decision;
  if (d?.action !== "none") return null;
  return d.moment && d.moment.at < d.notAfter ? d.moment.at : d.notAfter;
}

/** The renewal moment the last look has been overtaken by, when it has passed. */
export function overtaken(look: CertLook | undefined, now: Date): Date | null {
  const at = overtakenAt(look);
  return at && at <= now ? at : null;
}

export function certStatus(i: StatusInput): CertStatus {
  if (i.busy) return "renewing";
  if (!i.look) return "checking";
  const d = i.look.decision;
  // The scheduler leaves it alone until a target answers, so it is neither due nor failed, whatever the last attempt did.
  if (!d) return "unreadable";
  if (d.action === "none" && !overtaken(i.look, i.now)) return "ok";
  const { state } = onThisNode(i);
  if (state?.haltedAt) return "halted";
  if ((state?.consecutiveFailures ?? 0) > 0) return state?.retryAt && state.retryAt > i.now ? "cooldown" : "failed";
  return d.notAfter === null ? "missing" : "due";
}

/** The clock's share of `days_left`: hundredths of a day. */
const DAY_HUNDREDTH_MS = 864_000;

/**
 * A field read here must be compared in `sameInput` (cert-rows.ts), which decides when a
 * cached row is still this function's answer; a field that depends on `now` must also
 * move `momentsExpiry`, or be one of the two values CertRows puts in at every request
 * (`days_left`, `next_check`).
 */
export function certJson(i: CertViewInput): CertJson {
  const notAfter = i.look?.decision?.notAfter ?? null;
  const node = onThisNode(i);
  const retryAt = retryAhead({ state: node.state, now: i.now });
  const status = certStatus(i);
  return {
    id: i.id,
    domains: i.domains,
    domains_unicode: i.domains.map(toUnicode),
    status,
    not_after: iso(notAfter),
    days_left: notAfter ? daysLeftAt(notAfter, i.now) : null,
    renew_at: iso(i.look?.decision?.moment?.at),
    renew_reason: i.look?.decision?.why ?? null,
    ari_window: windowJson(i.look?.ari?.window),
    next_check: iso(nextCheckAt(nextCheckOwn(i, status), i.nextTick)),
    retry_at: iso(retryAt),
    due_since: iso(i.look?.dueSince ?? overtaken(i.look, i.now)),
    last_renewal: node.last ? renewalSummaryJson(node.last) : null,
    look_error: i.look?.error ?? null,
    targets: targetsJson(i.install, i.look, i.look?.latestSerial ?? null, i.typeOf),
  };
}

/** `days_left`: the days until `notAfter`, to the hundredth. */
export function daysLeftAt(notAfter: Date, now: Date): number {
  return Math.round(daysLeft(notAfter, now) * 100) / 100;
}

/**
 * The first moment (ms) at which `daysLeftAt(notAfter, now)` may differ: the next hundredth
 * of a day. A millisecond early, so rounding never keeps a stale value.
 */
export function daysLeftUntil(notAfter: Date, now: Date): number {
  // Math.round(v) is floor(v + 0.5): it stays r while v ≥ r − 0.5, v falling as now rises.
  const r = Math.round(daysLeft(notAfter, now) * 100);
  return notAfter.getTime() - (r - 0.5) * DAY_HUNDREDTH_MS - 1;
}

/**
 * The first moment (ms) at which `certJson(i)` may differ only because `now` passed one of
 * the cert's moments: a cooldown's end, a renewal moment or an ARI poll (each stops counting
 * once past), and when a look that found nothing to do is overtaken (`overtaken`).
 * `days_left` apart (`daysLeftUntil`): it moves every 864 s for every cert.
 */
export function momentsExpiry(i: CertViewInput): number {
  const now = i.now.getTime();
  let at = Number.POSITIVE_INFINITY;
  for (const d of [onThisNode(i).state?.retryAt, i.look?.decision?.moment?.at, i.look?.ari?.nextPollAt, overtakenAt(i.look)]) {
    if (d && d.getTime() > now) at = Math.min(at, d.getTime());
  }
  return at;
}

/**
 * Every configured target, found at the look or not (before the first look ends, or one the
 * look did not reach). `error` is why it serves nothing usable, or why one of its
 * `verify_served` endpoints could not be asked what it serves.
 */
export function targetsJson(names: readonly string[], look: CertLook | undefined, latestSerial: string | null, typeOf: (name: string) => string | undefined): TargetJson[] {
  return names.map((name) => {
    const t = look?.targets.find((l) => l.target === name);
    const serial = t?.installed?.serial ?? null;
    const error = t?.error ?? (t?.damaged !== undefined ? `damaged: ${t.damaged}` : (t?.unverified ?? null));
    return { name, type: typeOf(name) ?? null, serial, not_after: iso(t?.installed?.notAfter), matches_latest: serial !== null && serial === latestSerial, error };
  });
}

/**
 * `next_check` without the next sweep's time, which moves for every cert at every sweep:
 * `at` is the cert's own soonest moment, `sweep` whether the next sweep counts beside it.
 */
export interface OwnNextCheck {
  at: Date | null;
  sweep: boolean;
}

/**
 * When the daemon next looks at the cert (issue 12 §2), but for the next sweep: never while
 * it renews or is halted (nothing is tried until a person forces a renewal, even while its
 * certificate is fine); at the cooldown's end while it cools down (the moment timer is armed
 * for it); otherwise its renewal moment or its next ARI poll, the sooner still ahead, or the
 * next sweep if that comes first (`nextCheckAt`).
 */
export function nextCheckOwn(i: CertViewInput, status: CertStatus = certStatus(i)): OwnNextCheck {
  const { state } = onThisNode(i);
  if (state?.haltedAt || status === "renewing") return { at: null, sweep: false };
  if (status === "cooldown") return { at: retryAhead({ state, now: i.now }), sweep: false };
  let at: Date | null = null;
  for (const d of [i.look?.decision?.moment?.at, i.look?.ari?.nextPollAt]) {
    if (d && d > i.now && (at === null || d < at)) at = d;
  }
  return { at, sweep: true };
}

/** `retry_at`: the cooldown's end while still ahead. */
function retryAhead(i: Pick<CertViewInput, "state" | "now">): Date | null {
  return i.state?.retryAt && i.state.retryAt > i.now ? i.state.retryAt : null;
}

/** `next_check`: `own.at`, or `nextTick` when the sweep counts and comes no later. Returns one of the two, never a new Date. */
export function nextCheckAt(own: OwnNextCheck, nextTick: Date | null): Date | null {
  if (!own.sweep || nextTick === null) return own.at;
  return own.at !== null && own.at < nextTick ? own.at : nextTick;
}
