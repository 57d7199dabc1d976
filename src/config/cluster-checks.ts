/**
 * @module What cluster mode refuses, found without connecting to anything or creating
 * anything. In the config alone (`clusterConfigProblems`): a store the nodes cannot share,
 * a CA type that cannot serve several nodes, a key rotation that would give the leader a
 * key no other node has. On this machine (`clusterMachineProblems`): a cert's key it would
 * have to generate or replace, a local CA root it would have to create. Validation checks
 * the first against the file's `[cluster]`; the pre-start checks check both against the
 * `[cluster]` the daemon runs with (a reload keeps the running one), so `rota check-config`,
 * a start and a reload say the same lines. Each is fatal: a node that cannot install the
 * leader's certificates must not join. The machine's checks are in cluster-machine.ts, apart:
 * they read keys (`node:crypto`), which validation never does.
 */
import { CA_TYPES } from "../backends/registry.ts";
import { SAME_KEY_REASON } from "./cluster.ts";
import type { RotaConfig } from "./schema.ts";

/** Where each cert and CA section is in the file (`cert[2]`, `ca[1]`). */
export interface ClusterSectionKeys {
  cert(i: number): string;
  ca(i: number): string;
}

/** Lines `<key path>: <problem>` the config alone shows; none when `[cluster]` is off. */
export function clusterConfigProblems(config: RotaConfig, keys: ClusterSectionKeys): string[] {
  if (!config.cluster.enabled) return [];
  const out: string[] = [];
  if (config.audit.backend !== "surrealdb") {
    out.push(`cluster.enabled: needs [audit] backend = "surrealdb": the lease and the issued certificates live in the shared database`);
  }
  config.cas.forEach((ca, i) => {
    const why = CA_TYPES[ca.type]?.clusterUnsupported;
    if (why) out.push(`${keys.ca(i)}.type: ${why}`);
  });
  config.certs.forEach((cert, i) => {
    if (cert.keyRotation === "every_renewal") out.push(`${keys.cert(i)}.key_rotation: "every_renewal" cannot work in cluster mode: ${SAME_KEY_REASON}`);
  });
  return out;
}
