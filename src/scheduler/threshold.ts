/**
 * @module The renew-threshold policy in one place: where a cert's explicit threshold comes
 * from (there is no default: without one the lifetime rule of due.ts applies), and the
 * thresholds a certificate's lifetime makes useless (at least its whole life: an error
 * where the config tells the lifetime) or wasteful (at least half of it: a warning).
 */
import { quote } from "../config/reader.ts";

export type ThresholdSource = "cert" | "daemon";

export interface Threshold {
  days: number;
  source: ThresholdSource;
}

/** The cert's own setting, else the daemon's, and which one it was; null when neither sets one. */
export function resolveThreshold(certDays: number | undefined, daemonDays: number | undefined): Threshold | null {
  if (certDays !== undefined) return { days: certDays, source: "cert" };
  if (daemonDays !== undefined) return { days: daemonDays, source: "daemon" };
  return null;
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

/**
 * The warning for a threshold at least half of a `lifetimeDays`-day lifetime, or null.
 * Said by check-config where the config tells the lifetime, and by the daemon once per
 * certificate it sees: such a threshold renews long before the lifetime rule would.
 */
export function longThresholdWarning(threshold: Threshold | null, lifetimeDays: number): string | null {
  if (!threshold || threshold.days < lifetimeDays / 2) return null;
  return `renew_threshold_days = ${threshold.days} (${threshold.source}) is at least half of this certificate's ${lifetimeDays.toFixed(2)}-day lifetime, so it renews at every check; remove it to renew at ½ of the lifetime`;
}
