/**
 * @module `rota doctor`'s audit check for `[audit] backend = "surrealdb"`: the server answers
 * within `connect_timeout_seconds`, accepts the credentials, runs 3.x, and holds a schema
 * this rota can read. It reads `rota_meta:schema` and writes nothing. The SDK is imported
 * only here, lazily, as in `store/open.ts`.
 */
import type { SurrealAuditConfig } from "../config/schema.ts";
import { describeError } from "../errors.ts";
import type { Finding } from "./report.ts";

export async function checkSurrealAudit(config: SurrealAuditConfig, offline: boolean): Promise<Finding[]> {
  const id = "audit";
  const where = `SurrealDB at ${config.url} (${config.namespace}/${config.database})`;
  if (offline) return [{ id, status: "ok", message: `${where}: not contacted (--offline)` }];
  const [{ SurrealClient }, { readSchema }, { SURREAL_MIGRATIONS }] = await Promise.all([import("../store/surreal-client.ts"), import("../store/surreal.ts"), import("../store/surreal-migrations.ts")]);
  const client = new SurrealClient(config, { connected: () => {}, disconnected: () => {} });
  try {
    await client.connect();
    const { version, minReader } = await readSchema(client);
    const ours = SURREAL_MIGRATIONS.length;
    if (version === 0) return [{ id, status: "ok", message: `${where}: reachable, credentials accepted; no schema yet: rota daemon creates it` }];
    if (version > ours && minReader > ours) {
      return [{ id, status: "fail", message: `${where}: schema version ${version} needs a rota that reads ≥ ${minReader}; this rota reads ${ours}`, hint: "upgrade rota" }];
    }
    if (version < ours) return [{ id, status: "warn", message: `${where}: schema version ${version}, this rota's is ${ours}: rota daemon migrates it on start` }];
    return [{ id, status: "ok", message: `${where}: reachable, credentials accepted, schema version ${version}${version > ours ? ` (newer, readable by this rota's ${ours})` : ""}` }];
  } catch (err) {
    return [{ id, status: "fail", message: describeError(err), hint: "check [audit] url, username and the password file, and that the server runs SurrealDB 3.x" }];
  } finally {
    await client.close();
  }
}
