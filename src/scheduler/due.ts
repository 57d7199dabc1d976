/**
 * @module "Is it due": a pure function of what is installed, what the store holds, the
 * policy and now. Checks run in order and the first that fires is the decision, with
 * its reason recorded (cert-manager's reissue policy chain).
 */
import type { KeyType } from "../crypto/keys.ts";
import type { CertSummary } from "../crypto/summary.ts";
import { shortLivedHint, type Threshold } from "./threshold.ts";

export type { CertSummary };

const DAY_MS = 86_400_000;

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
  threshold: Threshold;
  targets: TargetState[];
  /** The newest certificate in the store. */
  latest: CertSummary | null;
  /**
   * What the config asks for now; a certificate that differs is replaced, however long it has left.
   * `implied`: names the CA adds on its own (Sectigo's `www.` counterpart), not a difference.
   */
  want: { keyType: KeyType; domains: string[]; implied?: string[] };
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
  const damaged = targets.filter((t) => t.damaged !== undefined).map((t) => `${t.target}: damaged: ${t.damaged}`);
  if (!best) return { action: "renew", reason: damaged.length > 0 ? `${damaged.join("; ")}; nothing stored to put back` : "nothing installed", notAfter: null };

  const left = daysLeft(best.notAfter, now);
  const within = `${fmtDays(left)} days left, threshold ${threshold.days} (${threshold.source})`;
  if (left < threshold.days) {
    // Until lifetime-proportional windows arrive, at least say why a short certificate renews at every check.
    const hint = shortLivedHint(daysLeft(best.notAfter, best.notBefore), threshold);
    return { action: "renew", reason: `${left <= 0 ? "expired" : "due"}: ${within}${hint}`, notAfter: best.notAfter };
  }
  const changed = configChanged(best, input.want);
  if (changed) return { action: "renew", reason: changed, notAfter: best.notAfter };

  if (latest) {
    // A target serving something other than the store's newest is stale, unless what it serves outlives it (installed by hand, newer).
    // A damaged set is put back from the store like a missing one, no new order; its reason comes first.
    const stale = targets.filter((t) => t.damaged === undefined && (!t.installed || (t.installed.serial !== latest.serial && t.installed.notAfter <= latest.notAfter)));
    const repair = targets.filter((t) => t.damaged !== undefined || stale.includes(t));
    if (repair.length > 0) {
      const staleReason = stale.length > 0 ? `${stale.map(targetLabel).join(", ")} ${stale.length === 1 ? "does" : "do"} not serve the newest certificate (serial ${latest.serial})` : null;
      return {
        action: "install",
        reason: [...damaged, ...(staleReason ? [staleReason] : [])].join("; "),
        targets: repair.map((t) => t.target),
        notAfter: latest.notAfter,
      };
    }
  } else if (damaged.length > 0) {
    return { action: "renew", reason: `${damaged.join("; ")}; nothing stored to put back`, notAfter: best.notAfter };
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

/** The target's name, with the endpoint and serial when an endpoint serves something else than its files. */
function targetLabel(t: TargetState): string {
  return t.servedAt && t.installed ? `${t.target} (${t.servedAt} serves ${t.installed.serial})` : t.target;
}

function fmtDays(d: number): string {
  return d.toFixed(2);
}

/** Why `cert` no longer fits the config, or null when it does. */
function configChanged(cert: CertSummary, want: DueInput["want"]): string | null {
  if (cert.keyType !== want.keyType) return `key type changed: the certificate has ${cert.keyType ?? "another kind of key"}, the config asks for ${want.keyType}`;
  const missing = want.domains.filter((d) => !cert.names.includes(d));
  const extra = cert.names.filter((d) => !want.domains.includes(d) && !(want.implied ?? []).includes(d));
  if (missing.length + extra.length === 0) return null;
  return `names changed: ${[missing.length ? `adds ${missing.join(", ")}` : "", extra.length ? `drops ${extra.join(", ")}` : ""].filter(Boolean).join("; ")}`;
}
