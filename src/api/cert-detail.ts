/** @module One cert in full (`GET /api/certs/{id}` and the cert page): the list row, its config, the scheduler's reasoning and what each target serves. */
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { IssuedCert } from "../store/types.ts";
import { reasonAt } from "../scheduler/due.ts";
import { targetsJson } from "./cert-view.ts";
import type { AriRecord } from "../store/types.ts";
import { iso, windowJson, type AriJson, type CertDetailJson } from "./json.ts";
import type { ApiDeps } from "./ports.ts";
import { firstLooks, viewsNow } from "./views.ts";

/** The cert's detail, and the newest stored certificate it was built from (the cert page reads more of it). */
export async function certDetail(deps: Pick<ApiDeps, "certs" | "store" | "clock">, cert: WatchedCert): Promise<{ detail: CertDetailJson; issued: IssuedCert | null }> {
  const id = cert.config.id;
  await firstLooks(deps, [cert]);
  const [states, issued] = await Promise.all([deps.store.certStates([id]), deps.store.latestIssued(id)]);
  const [view] = await viewsNow(deps, [cert], states);
  const state = states.get(id);
  const look = deps.certs.look(id);
  const detail: CertDetailJson = {
    ...view!,
    ca: cert.config.ca,
    dcv: cert.config.dcv ?? null,
    install: cert.config.install,
    key_type: cert.config.keyType,
    lifetime_days: issued ? Math.round(((issued.notAfter.getTime() - issued.notBefore.getTime()) / 86_400_000) * 100) / 100 : null,
    profile: profileOf(cert.config.caOptions),
    renew_threshold_days: look?.threshold?.days ?? null,
    renew_threshold_source: look?.threshold?.source ?? null,
    ari: ariJson(look?.ari ?? null),
    reason: look?.decision ? reasonAt(look.decision, deps.clock.now()) : (look?.error ?? null),
    authz_failures: state?.authzFailures ?? 0,
    halted_at: iso(state?.haltedAt),
    latest_issued: issued ? { serial: issued.serial, not_before: iso(issued.notBefore), not_after: iso(issued.notAfter), issued_at: iso(issued.issuedAt) } : null,
    // Against the store as read now: a renewal may have ended since the look.
    targets: targetsJson(cert.config.install, look, issued?.serial ?? null, (name) => deps.certs.backendType("install", name)),
  };
  return { detail, issued };
}

/** The `profile` among a cert's CA options (ACME's), or null. */
function profileOf(caOptions: unknown): string | null {
  const profile = (caOptions as { profile?: unknown } | undefined)?.profile;
  return typeof profile === "string" ? profile : null;
}

/** Null when the CA gives no ARI for the certificate (`certId` null): there is nothing to show but why, which the log has. */
function ariJson(a: AriRecord | null): AriJson | null {
  if (!a?.certId) return null;
  return { cert_id: a.certId, window: windowJson(a.window), explanation_url: a.explanationUrl, polled_at: a.polledAt.toISOString(), next_poll_at: a.nextPollAt.toISOString(), error: a.error };
}
