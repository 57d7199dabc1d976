/**
 * @module `rota doctor`'s audit check for `[audit] backend = "surrealdb"`: the server answers
 * within `connect_timeout_seconds`, accepts the credentials, runs 3.x, holds a schema this
 * rota can read, and lets the user write. It reads `rota_meta:schema` and commits nothing. The SDK is imported
 * only here, lazily, as in `store/open.ts`.
 */
import type { SurrealAuditConfig } from "../config/schema.ts";
import { describeError } from "../errors.ts";
import type { Finding } from "./report.ts";

export async function checkSurrealAudit(config: SurrealAuditConfig, offline: boolean): Promise<Finding[]> {
  const id = "audit";
  const where = `SurrealDB at ${config.url} (${config.namespace}/${config.database})`;
  if (offline) return [{ id, status: "ok", message: `${where}: not contacted (--offline)` }];
  const [{ SurrealClient }, { readSchema, writeRefusal }, { SURREAL_MIGRATIONS }] = await Promise.all([import("../store/surreal-client.ts"), import("../store/surreal.ts"), import("../store/surreal-migrations.ts")]);
  const client = new SurrealClient(config, { connected: () => {}, disconnected: () => {} });
  try {
    await client.connect();
    const { version, minReader } = await readSchema(client);
    const ours = SURREAL_MIGRATIONS.length;
    if (version === 0) return [{ id, status: "ok", message: `${where}: reachable, credentials accepted; no schema yet: rota daemon creates it` }];
    if (version > ours && minReader > ours) {
      return [{ id, status: "fail", message: `${where}: schema version ${version} needs a rota that reads ≥ ${minReader}; this rota reads ${ours}`, hint: "upgrade rota" }];
    }
    // Checked by a transaction that never commits: the check still writes nothing.
    const refusal = await writeRefusal(client);
    if (refusal) return [{ id, status: "fail", message: refusal.message, hint: "give the user ROLES EDITOR (DEFINE USER … ROLES EDITOR)" }];
    if (version < ours) return [{ id, status: "warn", message: `${where}: schema version ${version}, this rota's is ${ours}: rota daemon migrates it on start` }];
    return [{ id, status: "ok", message: `${where}: reachable, credentials accepted, schema version ${version}${version > ours ? ` (newer, readable by this rota's ${ours})` : ""}` }];
  } catch (err) {
    return [{ id, status: "fail", message: describeError(err), hint: "check [audit] url, username and the password file, and that the server runs SurrealDB 3.x" }];
  } finally {
    await client.close();
  }
}
