/** @module A `renewal_plan` row and the RenewalPlan it stores, both ways (times as epoch ms, the ARI columns NULL without advice). */
import type { RenewalPlan } from "./types.ts";

export interface PlanRecord {
  cert_id: string;
  serial: string;
  renew_at: number;
  reason: string;
  ari_cert_id: string | null;
  ari_start: number | null;
  ari_end: number | null;
  ari_explanation_url: string | null;
  ari_polled_at: number | null;
  ari_next_poll_at: number | null;
  ari_error: string | null;
}

export const PUT_PLAN_SQL = `INSERT OR REPLACE INTO renewal_plan
  (cert_id, serial, renew_at, reason, ari_cert_id, ari_start, ari_end, ari_explanation_url, ari_polled_at, ari_next_poll_at, ari_error)
  VALUES ($cert_id, $serial, $renew_at, $reason, $ari_cert_id, $ari_start, $ari_end, $ari_explanation_url, $ari_polled_at, $ari_next_poll_at, $ari_error)`;

export function planRecord(p: RenewalPlan): Record<`$${keyof PlanRecord}`, string | number | null> {
  const a = p.ari;
  return {
    $cert_id: p.certId,
    $serial: p.serial,
    $renew_at: p.renewAt.getTime(),
    $reason: p.reason,
    $ari_cert_id: a?.certId ?? null,
    $ari_start: a?.window?.start.getTime() ?? null,
    $ari_end: a?.window?.end.getTime() ?? null,
    $ari_explanation_url: a?.explanationUrl ?? null,
    $ari_polled_at: a?.polledAt.getTime() ?? null,
    $ari_next_poll_at: a?.nextPollAt.getTime() ?? null,
    $ari_error: a?.error ?? null,
  };
}

export function planOf(r: PlanRecord): RenewalPlan {
  const polled = r.ari_polled_at !== null && r.ari_next_poll_at !== null;
  return {
    certId: r.cert_id,
    serial: r.serial,
    renewAt: new Date(r.renew_at),
    reason: r.reason as RenewalPlan["reason"],
    ari: polled
      ? {
          certId: r.ari_cert_id,
          window: r.ari_start !== null && r.ari_end !== null ? { start: new Date(r.ari_start), end: new Date(r.ari_end) } : null,
          explanationUrl: r.ari_explanation_url,
          polledAt: new Date(r.ari_polled_at!),
          nextPollAt: new Date(r.ari_next_poll_at!),
          error: r.ari_error,
        }
      : null,
  };
}
