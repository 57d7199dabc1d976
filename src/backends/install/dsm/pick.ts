/** @module Which DSM certificate entry a dsm target replaces (issue 14, "List"): never guessed, never two. */
import { RotaError } from "../../../errors.ts";
import type { DsmCertificate } from "./client.ts";
import type { DsmConfig } from "./config.ts";

/**
 * `certificate_id` (an error when DSM has no such entry: it is never created); else rota's
 * last import, while DSM still has it; else the one entry whose `desc` is `description`.
 * Undefined: none, and `create` allows making one.
 */
export function pickEntry(list: DsmCertificate[], cfg: Pick<DsmConfig, "certificateId" | "description" | "create">, lastId: string | undefined, who: string): DsmCertificate | undefined {
  if (cfg.certificateId !== undefined) {
    const found = list.find((c) => c.id === cfg.certificateId);
    if (!found) throw new RotaError("install_failed", `${who}: DSM has no certificate with id ${cfg.certificateId} (certificate_id); rota replaces it but never creates it`, { noRetry: true });
    return found;
  }
  const last = lastId === undefined ? undefined : list.find((c) => c.id === lastId);
  if (last) return last;
  const named = list.filter((c) => c.desc === cfg.description);
  if (named.length > 1) {
    throw new RotaError(
      "install_failed",
      `${who}: DSM holds ${named.length} certificates described ${JSON.stringify(cfg.description)} (ids ${named.map((c) => c.id).join(", ")}); set certificate_id to one of them, or change the other's description`,
      { noRetry: true },
    );
  }
  if (named[0]) return named[0];
  if (!cfg.create) throw new RotaError("install_failed", `${who}: DSM has no certificate described ${JSON.stringify(cfg.description)}, and create = false`, { noRetry: true });
  return undefined;
}
