/**
 * @module "Is it due": a pure function of what is installed, what the store holds, the
 * policy, the CA's advice and now. Checks run in order and the first that fires is the
 * decision, with its reason recorded (cert-manager's reissue policy chain). When a
 * certificate is due by time is `renewalMoment`, the one rule for every lifetime.
 */
import { createHash } from "node:crypto";
import type { KeyType } from "../crypto/keys.ts";
import type { CertSummary } from "../crypto/summary.ts";
import type { Threshold } from "./threshold.ts";

export type { CertSummary };

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Below this lifetime a certificate renews at half its life, not at two thirds (issue 12 §1). */
const SHORT_LIFETIME_MS = 10 * DAY_MS;
/** The most the lifetime rule's jitter moves a moment earlier: spreads a fleet issued at once without renewing much sooner. */
const MAX_JITTER_MS = 12 * HOUR_MS;

/** Why a certificate renews when it does: the CA's ARI window, the lifetime rule, or an explicit threshold that came first. */
export type MomentReason = "ari" | "lifetime" | "threshold";

/**
 * Why a cert needs work, or (when it needs none) why its renewal moment is what it is:
 * `missing` (nothing installed nor stored), `changed` (names or key type), and for
 * install-only work `stale` (a target serves an older certificate), `damaged`, `drift` (a
 * `verify_served` endpoint serves an older one than the files) or `not_served` (a target serves none).
 */
export type RenewReason = MomentReason | "missing" | "changed" | "stale" | "damaged" | "drift" | "not_served";

export interface AriWindow {
  start: Date;
  end: Date;
}

export interface Moment {
  at: Date;
  reason: MomentReason;
}

/**
 * A number in [0, 1) fixed by the cert and its certificate's serial: the same on every
 * restart and every node, different from one certificate to the next. The first 48 bits of
 * SHA-256("<cert id>\n<serial hex>") over 2^48.
 */
export function jitterUnit(certId: string, serial: string): number {
  const kept = lastJitter.get(certId);
  if (kept?.serial === serial) return kept.unit;
  const unit = createHash("sha256").update(`${certId}\n${serial}`).digest().readUIntBE(0, 6) / 2 ** 48;
  if (lastJitter.size >= JITTER_KEPT_MAX) lastJitter.clear();
  lastJitter.set(certId, { serial, unit });
  return unit;
}

/**
 * Gives the entry `jitterUnit` keeps for `certId`, when it is for `serial`'s text, `serial`
 * itself (the caller's string, which it keeps anyway), in a new entry made beside the caller's
 * copies rather than amid the garbage of the look that made the old one (issue 11).
 */
export function shareJitterSerial(certId: string, serial: string): void {
  const kept = lastJitter.get(certId);
  if (kept?.serial === serial) lastJitter.set(certId, { serial, unit: kept.unit });
}

/**
 * Each cert id's last unit: every sweep decides every cert, and a hash per cert was a sixth
 * of a no-change sweep's main-thread time at 10,000 certs. One entry per cert id (its serial
 * replaced at each renewal); all dropped at a bound, so ids gone from the config cannot pile up.
 */
const lastJitter = new Map<string, { serial: string; unit: number }>();
const JITTER_KEPT_MAX = 100_000;

/**
 * When `cert` should be renewed. With an ARI window: `jitter` of the way into it, its end
 * clamped to notAfter (a window that ends before it starts is ignored). Otherwise the
 * lifetime rule: ⅔ of the lifetime L (½ below 10 days), moved earlier by up to
 * `jitter`·min(L/20, 12 h). An explicit threshold brings the moment forward, never later:
 * the earliest moment wins. A moment in the past means now.
 */
export function renewalMoment(cert: { notBefore: Date; notAfter: Date }, opts: { threshold: Threshold | null; ari: AriWindow | null; jitter: number }): Moment {
  const notAfter = cert.notAfter.getTime();
  const lifetime = Math.max(0, notAfter - cert.notBefore.getTime());
  const end = opts.ari ? Math.min(opts.ari.end.getTime(), notAfter) : Number.NaN;
  let base: Moment;
  if (opts.ari && end > opts.ari.start.getTime()) {
    const start = opts.ari.start.getTime();
    base = { at: new Date(start + opts.jitter * (end - start)), reason: "ari" };
  } else {
    const share = lifetime < SHORT_LIFETIME_MS ? lifetime / 2 : lifetime / 3;
    base = { at: new Date(notAfter - share - opts.jitter * Math.min(lifetime / 20, MAX_JITTER_MS)), reason: "lifetime" };
  }
  if (!opts.threshold) return base;
  const byThreshold = notAfter - opts.threshold.days * DAY_MS;
  return byThreshold < base.at.getTime() ? { at: new Date(byThreshold), reason: "threshold" } : base;
}

export interface TargetState {
  target: string;
  /** The installed leaf, or null when the target has none (or a damaged set). */
  installed: CertSummary | null;
  /** Set when the target serves a damaged set: why ("privkey.pem is missing"). `installed` is then null. */
  damaged?: string;
  /** Set when `installed` is what a `verify_served` endpoint serves instead of the target's files: that endpoint. */
  servedAt?: string;
}

export interface DueInput {
  now: Date;
  /** Seeds each certificate's jitter (`jitterUnit`). */
  certId: string;
  /** The explicit `renew_threshold_days` (the cert's, else the daemon's); null when unset. */
  threshold: Threshold | null;
  /** The CA's window for the certificate with this serial (the newest stored one), or null. */
  ari: { serial: string; window: AriWindow } | null;
  targets: TargetState[];
  /** The newest certificate in the store. */
  latest: CertSummary | null;
  /**
   * What the config asks for now; a certificate that differs is replaced, however long it has left.
   * `implied`: names the CA adds on its own (Sectigo's `www.` counterpart), not a difference.
   */
  want: { keyType: KeyType; domains: string[]; implied?: string[] };
}

/**
 * Every decision says why (`why`), and when and by which rule time renews the sooner of the
 * newest and the soonest-expiring served certificates (`moment`; null when none exists).
 */
type Common = { reason: string; why: RenewReason; moment: Moment | null };

export type Decision =
  /** `newest`: when the newest certificate anyone has expires, whose days left the reason says (`reasonAt`). */
  | (Common & { action: "none"; notAfter: Date; newest: Date })
  | (Common & { action: "renew"; notAfter: Date | null })
  | (Common & { action: "install"; targets: string[]; notAfter: Date });

export function daysLeft(notAfter: Date, now: Date): number {
  return (notAfter.getTime() - now.getTime()) / DAY_MS;
}

/** How a moment's reason reads in a decision: `lifetime rule`, `threshold 30 days (daemon)`, `ARI window`. */
export function momentLabel(reason: MomentReason, threshold: Threshold | null): string {
  if (reason === "threshold" && threshold) return `threshold ${threshold.days} days (${threshold.source})`;
  return reason === "ari" ? "ARI window" : "lifetime rule";
}

/**
 * Whether `a` was issued after `b`: a later notBefore. The store knows which of its own
 * certificates is newest (the one stored last); this says it for one it does not hold, a
 * target's (put there by hand, or by a renewal that ended after the store was read). Never by
 * notAfter: a certificate's lifetime can get shorter, and the older, longer one would win,
 * rolling targets back to it (issue 2 §4). A tie is not newer (a CA that rounds notBefore to
 * the day): the store's certificate then wins.
 */
export function issuedAfter(a: CertSummary, b: CertSummary): boolean {
  return a.notBefore.getTime() > b.notBefore.getTime();
}

/** What to do for one cert now. */
export function decide(input: DueInput): Decision {
  const { now, threshold, targets, latest } = input;
  // The newest certificate anyone has: the store's, or one installed that was issued after it.
  const best = [latest, ...targets.map((t) => t.installed)].reduce<CertSummary | null>((a, b) => (b && (!a || issuedAfter(b, a)) ? b : a), null);
  const damaged = targets.filter((t) => t.damaged !== undefined).map(damagedLabel);
  if (!best) {
    return damaged.length > 0
      ? { action: "renew", reason: `${damaged.join("; ")}; nothing stored to put back`, why: "damaged", moment: null, notAfter: null }
      : { action: "renew", reason: "nothing installed", why: "missing", moment: null, notAfter: null };
  }
  const momentOf = (c: CertSummary): Moment =>
    renewalMoment(c, { threshold, ari: input.ari && input.ari.serial === c.serial ? input.ari.window : null, jitter: jitterUnit(input.certId, c.serial) });

  const bestMoment = momentOf(best);
  const served = targets.map((t) => t.installed).filter((c): c is CertSummary => c !== null);
  const soonest = served.reduce((a, b) => (b.notAfter < a.notAfter ? b : a), served[0] ?? best);
  const soonestMoment = soonest === best ? bestMoment : momentOf(soonest);
  const first = soonestMoment.at < bestMoment.at ? soonestMoment : bestMoment;
  const label = (m: Moment) => `renew at ${m.at.toISOString()} (${momentLabel(m.reason, threshold)})`;

  const left = daysLeft(best.notAfter, now);
  if (bestMoment.at <= now) {
    const when = left <= 0 ? `expired: ${fmtDays(-left)} days ago` : `due: ${fmtDays(left)} days left`;
    return { action: "renew", reason: `${when}, ${label(bestMoment)}`, why: bestMoment.reason, moment: first, notAfter: best.notAfter };
  }
  const changed = configChanged(best, input.want);
  if (changed) return { action: "renew", reason: changed, why: "changed", moment: first, notAfter: best.notAfter };

  if (latest) {
    const repair = repairOf(latest, targets);
    if (repair) return { action: "install", ...repair, moment: first, notAfter: latest.notAfter };
  } else if (damaged.length > 0) {
    return { action: "renew", reason: `${damaged.join("; ")}; nothing stored to put back`, why: "damaged", moment: first, notAfter: best.notAfter };
  } else if (targets.some((t) => !t.installed)) {
    return { action: "renew", reason: `nothing installed on ${targets.filter((t) => !t.installed).map((t) => t.target).join(", ")} and nothing stored`, why: "missing", moment: first, notAfter: best.notAfter };
  }

  const soonestLeft = daysLeft(soonest.notAfter, now);
  if (soonestMoment.at <= now) {
    return { action: "renew", reason: `due: a target serves a certificate with ${fmtDays(soonestLeft)} days left, ${label(soonestMoment)}`, why: soonestMoment.reason, moment: first, notAfter: soonest.notAfter };
  }
  // One Date when the store's and the served certificate expire together, as they mostly do: a look keeps it for long (issue 11).
  const newest = best.notAfter.getTime() === soonest.notAfter.getTime() ? soonest.notAfter : best.notAfter;
  return { action: "none", reason: okReason(left, label(first)), why: first.reason, moment: first, notAfter: soonest.notAfter, newest };
}

const OK = "ok: ";
const DAYS_LEFT = " days left, ";

function okReason(left: number, label: string): string {
  return `${OK}${fmtDays(left)}${DAYS_LEFT}${label}`;
}

/**
 * The decision's reason as of `now`. Nothing to do, it says the days left, which move on
 * while the decision stands: a sweep looks at a cert nothing changed for only at its next
 * moment, so the text is made again when read. Any other reason is the decision's own.
 */
export function reasonAt(decision: Decision, now: Date): string {
  const at = decision.reason.indexOf(DAYS_LEFT);
  if (decision.action !== "none" || !decision.reason.startsWith(OK) || at < 0) return decision.reason;
  return okReason(daysLeft(decision.newest, now), decision.reason.slice(at + DAYS_LEFT.length));
}

/**
 * The targets that do not serve `latest`, the store's newest certificate: nothing installed,
 * or another serial not issued after it (`issuedAfter`; one installed by hand that is newer
 * is left alone, whenever it expires). A damaged set is not among them: `repairOf` says it apart.
 */
export function staleTargets<T extends TargetState>(latest: CertSummary, targets: readonly T[]): T[] {
  return targets.filter((t) => t.damaged === undefined && (!t.installed || (t.installed.serial !== latest.serial && !issuedAfter(t.installed, latest))));
}

/** Install-only work: the targets to put `latest` on, in config order, and why. */
export interface Repair {
  targets: string[];
  reason: string;
  why: RenewReason;
}

/**
 * What putting `latest` back would repair, no new order: damaged sets (their reasons first)
 * and stale targets (`staleTargets`). Null when every target serves it. `decide()` makes it
 * its `install` decision; a cluster node's InstallSyncTask runs it whatever else is due.
 */
export function repairOf(latest: CertSummary, targets: readonly TargetState[]): Repair | null {
  const damaged = targets.filter((t) => t.damaged !== undefined);
  const stale = staleTargets(latest, targets);
  if (damaged.length + stale.length === 0) return null;
  const staleReason = stale.length > 0 ? `${stale.map(targetLabel).join(", ")} ${stale.length === 1 ? "does" : "do"} not serve the newest certificate (serial ${latest.serial})` : null;
  const why: RenewReason = damaged.length > 0 ? "damaged" : stale.some((t) => !t.installed) ? "not_served" : stale.some((t) => t.servedAt !== undefined) ? "drift" : "stale";
  return {
    targets: targets.filter((t) => t.damaged !== undefined || stale.includes(t)).map((t) => t.target),
    reason: [...damaged.map(damagedLabel), ...(staleReason ? [staleReason] : [])].join("; "),
    why,
  };
}

function damagedLabel(t: TargetState): string {
  return `${t.target}: damaged: ${t.damaged}`;
}

/** The target's name, with the endpoint and serial when an endpoint serves something else than its files. */
function targetLabel(t: TargetState): string {
  return t.servedAt && t.installed ? `${t.target} (${t.servedAt} serves ${t.installed.serial})` : t.target;
}

/** Two decimals; under a tenth of a day two significant digits, so a short-lived cert's hours and minutes show (not "0.00"). */
function fmtDays(d: number): string {
  return d !== 0 && Math.abs(d) < 0.1 ? String(Number(d.toPrecision(2))) : d.toFixed(2);
}

/** Why `cert` no longer fits the config, or null when it does. */
function configChanged(cert: CertSummary, want: DueInput["want"]): string | null {
  if (cert.keyType !== want.keyType) return `key type changed: the certificate has ${cert.keyType ?? "another kind of key"}, the config asks for ${want.keyType}`;
  const missing = want.domains.filter((d) => !cert.names.includes(d));
  const extra = cert.names.filter((d) => !want.domains.includes(d) && !(want.implied ?? []).includes(d));
  if (missing.length + extra.length === 0) return null;
  return `names changed: ${[missing.length ? `adds ${missing.join(", ")}` : "", extra.length ? `drops ${extra.join(", ")}` : ""].filter(Boolean).join("; ")}`;
}
