/**
 * @module "Is it due": a pure function of what is installed, what the store holds, the
 * policy and now. Checks run in order and the first that fires is the decision, with
 * its reason recorded (cert-manager's reissue policy chain).
 */
import { DEFAULT_RENEW_THRESHOLD_DAYS } from "../config/schema.ts";
import type { KeyType } from "../crypto/keys.ts";
import type { CertSummary } from "../crypto/summary.ts";

export type { CertSummary };

const DAY_MS = 86_400_000;

export type ThresholdSource = "cert" | "daemon" | "default";

export interface Threshold {
  days: number;
  source: ThresholdSource;
}

/** The cert's own setting, else the daemon's, else the default; and which one it was. */
export function resolveThreshold(certDays: number | undefined, daemonDays: number | undefined): Threshold {
  if (certDays !== undefined) return { days: certDays, source: "cert" };
  if (daemonDays !== undefined) return { days: daemonDays, source: "daemon" };
  return { days: DEFAULT_RENEW_THRESHOLD_DAYS, source: "default" };
}

export interface TargetState {
  target: string;
  /** The installed leaf, or null when the target has none. */
  installed: CertSummary | null;
}

export interface DueInput {
  now: Date;
  threshold: Threshold;
  targets: TargetState[];
  /** The newest certificate in the store. */
  latest: CertSummary | null;
  /** What the config asks for now; a certificate that differs is replaced, however long it has left. */
  want: { keyType: KeyType; domains: string[] };
}

export type Decision =
  | { action: "none"; reason: string; notAfter: Date }
  | { action: "renew"; reason: string; notAfter: Date | null }
  | { action: "install"; reason: string; targets: string[]; notAfter: Date };

export function daysLeft(notAfter: Date, now: Date): number {
  return (notAfter.getTime() - now.getTime()) / DAY_MS;
}

/** What to do for one cert now. */
export function decide(input: DueInput): Decision {
  const { now, threshold, targets, latest } = input;
  // The newest certificate anyone has: the store's, or one installed that is newer still.
  const best = [latest, ...targets.map((t) => t.installed)].reduce<CertSummary | null>(
    (a, b) => (b && (!a || b.notAfter > a.notAfter) ? b : a),
    null,
  );
  if (!best) return { action: "renew", reason: "nothing installed", notAfter: null };

  const left = daysLeft(best.notAfter, now);
  const within = `${fmtDays(left)} days left, threshold ${threshold.days} (${threshold.source})`;
  if (left < threshold.days) {
    const lifetime = daysLeft(best.notAfter, best.notBefore);
    // Until lifetime-proportional windows arrive, at least say why a short certificate renews at every check.
    const hint = lifetime <= threshold.days ? `; the certificate lives only ${fmtDays(lifetime)} days, so it renews at every check: lower renew_threshold_days` : "";
    return { action: "renew", reason: `${left <= 0 ? "expired" : "due"}: ${within}${hint}`, notAfter: best.notAfter };
  }
  const changed = configChanged(best, input.want);
  if (changed) return { action: "renew", reason: changed, notAfter: best.notAfter };

  if (latest) {
    // A target serving something other than the store's newest is stale, unless what it serves outlives it (installed by hand, newer).
    const stale = targets.filter((t) => !t.installed || (t.installed.serial !== latest.serial && t.installed.notAfter <= latest.notAfter));
    if (stale.length > 0) {
      return {
        action: "install",
        reason: `${stale.map((t) => t.target).join(", ")} ${stale.length === 1 ? "does" : "do"} not serve the newest certificate (serial ${latest.serial})`,
        targets: stale.map((t) => t.target),
        notAfter: latest.notAfter,
      };
    }
  } else if (targets.some((t) => !t.installed)) {
    return { action: "renew", reason: `nothing installed on ${targets.filter((t) => !t.installed).map((t) => t.target).join(", ")} and nothing stored`, notAfter: best.notAfter };
  }

  const served = targets.map((t) => t.installed).filter((c): c is CertSummary => c !== null);
  const soonest = served.reduce((a, b) => (b.notAfter < a.notAfter ? b : a), served[0] ?? best);
  const soonestLeft = daysLeft(soonest.notAfter, now);
  if (soonestLeft < threshold.days) {
    return { action: "renew", reason: `due: a target serves a certificate with ${fmtDays(soonestLeft)} days left, threshold ${threshold.days} (${threshold.source})`, notAfter: soonest.notAfter };
  }
  return { action: "none", reason: `ok: ${within}`, notAfter: soonest.notAfter };
}

function fmtDays(d: number): string {
  return d.toFixed(2);
}

/** Why `cert` no longer fits the config, or null when it does. */
function configChanged(cert: CertSummary, want: DueInput["want"]): string | null {
  if (cert.keyType !== want.keyType) return `key type changed: the certificate has ${cert.keyType ?? "another kind of key"}, the config asks for ${want.keyType}`;
  const missing = want.domains.filter((d) => !cert.names.includes(d));
  const extra = cert.names.filter((d) => !want.domains.includes(d));
  if (missing.length + extra.length === 0) return null;
  return `names changed: ${[missing.length ? `adds ${missing.join(", ")}` : "", extra.length ? `drops ${extra.join(", ")}` : ""].filter(Boolean).join("; ")}`;
}
