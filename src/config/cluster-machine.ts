/**
 * @module What cluster mode needs on this machine before a node joins (cluster-checks.ts says
 * why these and the config's checks go together): a cert's key it would have to generate or
 * replace, a local CA root it would have to create.
 */
import { CA_TYPES } from "../backends/registry.ts";
import { keyTypeOfObject } from "../crypto/keys.ts";
import type { ClusterSectionKeys } from "./cluster-checks.ts";
import { readKeyFile } from "./key-file.ts";
import type { CertConfig, RotaConfig } from "./schema.ts";

const NEVER_GENERATES = "in cluster mode rota never generates a key: copy the cert's key to every node";

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
