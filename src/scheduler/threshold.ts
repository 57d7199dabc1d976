/**
 * @module The renew-threshold policy in one place: where a cert's threshold comes from,
 * its default, and the configs it makes useless (a threshold at least as long as the
 * certificate lives renews at every check).
 */
import { quote } from "../config/reader.ts";

export const DEFAULT_RENEW_THRESHOLD_DAYS = 30;

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

/**
 * Why `threshold` cannot work with a CA that issues `lifetimeDays`-day certificates, or
 * null when it can. The config key to blame is the cert's when it set the threshold.
 */
export function thresholdProblem(threshold: Threshold, ca: { name: string; lifetimeDays: number }): { key: "renew_threshold_days" | "ca"; message: string } | null {
  if (threshold.days < ca.lifetimeDays) return null;
  return {
    key: threshold.source === "cert" ? "renew_threshold_days" : "ca",
    message: `renewing ${threshold.days} days before expiry (${threshold.source}) with ca ${quote(ca.name)}, which issues ${ca.lifetimeDays}-day certificates, would renew at every check; lower renew_threshold_days or raise validity_days`,
  };
}

/** The hint a due reason carries when the certificate lives no longer than the threshold. */
export function shortLivedHint(lifetimeDays: number, threshold: Threshold): string {
  return lifetimeDays <= threshold.days ? `; the certificate lives only ${lifetimeDays.toFixed(2)} days, so it renews at every check: lower renew_threshold_days` : "";
}
