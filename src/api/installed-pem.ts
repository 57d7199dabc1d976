/**
 * @module What `GET /api/certs/{id}/pem` serves, and whether the cert page offers it: the
 * newest certificate the cert's targets are known to hold. The store records a target's
 * install when the whole install succeeded; a later step that failed (a post_install_command)
 * leaves the files in place and the target serving them, which the scheduler's look sees.
 */
import type { CertLook } from "../scheduler/scheduler.ts";
import type { IssuedCert } from "../store/types.ts";
import type { ApiDeps } from "./ports.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";

/**
 * The newest (stored last, not expiring last: a lifetime can get shorter) of each target's
 * recorded install and, when the last look found a target serving it, the newest stored
 * certificate; null when no target is known to hold any.
 */
export function installedOf(recorded: readonly (IssuedCert | null)[], latest: IssuedCert | null, look: CertLook | undefined): IssuedCert | null {
  const served = latest && look?.targets.some((t) => t.installed?.serial === latest.serial) ? latest : null;
  return [...recorded, served].reduce<IssuedCert | null>((a, b) => (b && (!a || b.issuedAt > a.issuedAt) ? b : a), null);
}

export async function installedCert(deps: Pick<ApiDeps, "certs" | "store">, cert: WatchedCert, latest?: IssuedCert | null): Promise<IssuedCert | null> {
  const id = cert.config.id;
  const [recorded, newest] = await Promise.all([Promise.all(cert.config.install.map((target) => deps.store.lastInstalled(id, target))), latest === undefined ? deps.store.latestIssued(id) : latest]);
  return installedOf(recorded, newest, deps.certs.look(id));
}
