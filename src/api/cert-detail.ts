/** @module One cert in full (`GET /api/certs/{id}` and the cert page): the list row, its config, the scheduler's reasoning and what each target serves. */
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import type { IssuedCert } from "../store/types.ts";
import { iso, type CertDetailJson, type TargetJson } from "./json.ts";
import type { ApiDeps } from "./ports.ts";
import { certViews } from "./views.ts";

/** The cert's detail, and the newest stored certificate it was built from (the cert page reads more of it). */
export async function certDetail(deps: Pick<ApiDeps, "certs" | "store" | "clock">, cert: WatchedCert): Promise<{ detail: CertDetailJson; issued: IssuedCert | null }> {
  const id = cert.config.id;
  const [[view], issued] = await Promise.all([certViews(deps, [cert]), deps.store.latestIssued(id)]);
  const look = deps.certs.look(id);
  const detail: CertDetailJson = {
    ...view!,
    ca: cert.config.ca,
    dcv: cert.config.dcv ?? null,
    install: cert.config.install,
    key_type: cert.config.keyType,
    renew_threshold_days: look?.threshold.days ?? null,
    renew_threshold_source: look?.threshold.source ?? null,
    reason: look?.decision?.reason ?? look?.error ?? null,
    latest_issued: issued ? { serial: issued.serial, not_before: iso(issued.notBefore), not_after: iso(issued.notAfter), issued_at: iso(issued.issuedAt) } : null,
    targets: targetsJson(cert.config.install, look, issued?.serial ?? null, (name) => deps.certs.backendType("install", name)),
  };
  return { detail, issued };
}

/** Every configured target, found at the look or not (before the first look ends, or one the look did not reach). */
export function targetsJson(names: readonly string[], look: CertLook | undefined, latestSerial: string | null, typeOf: (name: string) => string | undefined): TargetJson[] {
  return names.map((name) => {
    const t = look?.targets.find((l) => l.target === name);
    const serial = t?.installed?.serial ?? null;
    const error = t?.error ?? (t?.damaged !== undefined ? `damaged: ${t.damaged}` : null);
    return { name, type: typeOf(name) ?? null, serial, not_after: iso(t?.installed?.notAfter), matches_latest: serial !== null && serial === latestSerial, error };
  });
}
