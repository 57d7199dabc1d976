/**
 * @module The cert ids of a daemon without `[cluster]` on a shared SurrealDB database: the
 * store keys a cert's cooldown, issued certificates and plan by its id alone, so two daemons
 * with a cert `www` for other names would take each other's for their own (reordering it in
 * turn at every look, and cooling each other down). Each id belongs to the daemon that
 * claimed it first; another is refused it at start (exit 2) and on reload.
 */
import type { RotaConfig } from "../config/schema.ts";
import { hasCertClaims, type AuditStore } from "../store/types.ts";

/**
 * Claims the config's cert ids and `keep` (a reload holds the running config's until the new
 * one applies), giving up every other, and returns a problem line per id of the config
 * another daemon holds; none when the store is not shared this way. Throws what the store
 * throws (`store_unavailable` during an outage).
 */
export async function claimCertIds(store: AuditStore, config: RotaConfig, keep: readonly string[] = []): Promise<string[]> {
  // Cluster nodes share their cert ids by design; the recovering SQLite proxy answers every name.
  if (config.audit.backend !== "surrealdb" || config.cluster.enabled || !hasCertClaims(store)) return [];
  const taken = await store.claimCerts([...new Set([...config.certs.map((c) => c.id), ...keep])]);
  return config.certs.flatMap((c, i) => {
    const owner = taken.get(c.id);
    return owner === undefined
      ? []
      : [
          `cert[${i}].id: ${JSON.stringify(c.id)} is in use by the rota daemon ${owner}, which shares this SurrealDB database; cert ids must be unique across the daemons sharing a database (or make them one [cluster], docs/federation.md)`,
        ];
  });
}
