/**
 * @module What cluster mode refuses, found without connecting to anything or creating
 * anything. In the config alone (`clusterConfigProblems`): a store the nodes cannot share,
 * a CA type that cannot serve several nodes, a key rotation that would give the leader a
 * key no other node has. On this machine (`clusterMachineProblems`): a cert's key it would
 * have to generate or replace, a local CA root it would have to create. Validation checks
 * the first against the file's `[cluster]`; the pre-start checks check both against the
 * `[cluster]` the daemon runs with (a reload keeps the running one), so `rota check-config`,
 * a start and a reload say the same lines. Each is fatal: a node that cannot install the
 * leader's certificates must not join.
 */
import { CA_TYPES } from "../backends/registry.ts";
import { keyTypeOfObject } from "../crypto/keys.ts";
import { SAME_KEY_REASON } from "./cluster.ts";
import { readKeyFile } from "./key-file.ts";
import type { CertConfig, RotaConfig } from "./schema.ts";

/** Where each cert and CA section is in the file (`cert[2]`, `ca[1]`). */
export interface ClusterSectionKeys {
  cert(i: number): string;
  ca(i: number): string;
}

const NEVER_GENERATES = "in cluster mode rota never generates a key: copy the cert's key to every node";

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

/** Lines `<key path>: <problem>` for what each node must hold before it joins; none when `[cluster]` is off. */
export function clusterMachineProblems(config: RotaConfig, keys: ClusterSectionKeys): string[] {
  if (!config.cluster.enabled) return [];
  const out: string[] = [];
  config.cas.forEach((ca, i) => {
    const problem = CA_TYPES[ca.type]?.clusterProblem?.(ca.name, { stateDir: config.daemon.stateDir, cas: config.cas });
    if (problem) out.push(`${keys.ca(i)}.type: ${problem}`);
  });
  config.certs.forEach((cert, i) => {
    const problem = keyProblem(cert);
    if (problem) out.push(`${keys.cert(i)}.key_path: ${problem}`);
  });
  return out;
}

/** The cert's key must be here already, of its type: in cluster mode a renewal only loads it (src/crypto/keys.ts `loadKey`). */
function keyProblem(cert: CertConfig): string | undefined {
  const path = cert.keyPath;
  const found = readKeyFile(path);
  switch (found.state) {
    case "absent":
      return `${path} does not exist; ${NEVER_GENERATES}`;
    case "unreadable":
      return `cannot read ${path} (${found.why}); ${NEVER_GENERATES}`;
    case "not_a_key":
      return `${path} is not a private key; ${NEVER_GENERATES}`;
    case "key": {
      const type = keyTypeOfObject(found.key);
      if (type === cert.keyType) return undefined;
      return `${path} holds ${type ? `an ${type} key` : "a key of another type"}; key_type is ${cert.keyType}`;
    }
  }
}
