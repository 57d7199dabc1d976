/**
 * @module The `[audit]` section: SQLite (the default, a file in the state folder) or a
 * SurrealDB 3.x server. Each backend's keys are refused under the other, and nothing is
 * connected to here: `rota check-config` stays offline.
 */
import { join } from "node:path";
import { quote, type Reader } from "./reader.ts";
import {
  DEFAULT_RETENTION_DAYS,
  DEFAULT_SURREAL_BUFFER_MAX_WRITES,
  DEFAULT_SURREAL_CONNECT_TIMEOUT_SECONDS,
  SURREAL_AUTH_LEVELS,
  type AuditConfig,
} from "./schema.ts";
import type { SecretRef } from "./secret.ts";

/** A century: longer is a typo, and would put the cut-off before the epoch. */
const MAX_RETENTION_DAYS = 36500;
const SQLITE_KEYS = ["path"];
const SURREAL_KEYS = ["url", "namespace", "database", "username", "password", "password_file", "password_env", "auth_level", "ca_bundle", "connect_timeout_seconds", "buffer_max_writes"];
/** SurrealDB accepts more in a namespace or database name, but these need no escaping anywhere. */
const NAME = /^[A-Za-z0-9_]+$/;

export function readAudit(r: Reader, stateDir: string): AuditConfig {
  const backend = r.oneOf("backend", ["sqlite", "surrealdb"] as const, "sqlite");
  const retentionDays = r.int("retention_days", { min: 1, max: MAX_RETENTION_DAYS, fallback: DEFAULT_RETENTION_DAYS });
  const foreign = backend === "sqlite" ? SURREAL_KEYS : SQLITE_KEYS;
  for (const k of foreign.filter((k) => r.has(k))) {
    r.skip(k);
    r.problem(k, `only with backend = "${backend === "sqlite" ? "surrealdb" : "sqlite"}"`);
  }
  if (backend === "sqlite") {
    return { backend, path: r.path("path", { ifExists: "file" }) ?? join(stateDir, "rota.db"), retentionDays };
  }
  const name = (k: string) => r.string(k, { pattern: NAME, patternHint: `must match [A-Za-z0-9_]+` }) ?? "rota";
  return {
    backend,
    url: readUrl(r),
    namespace: name("namespace"),
    database: name("database"),
    username: r.string("username", { required: true }) ?? "",
    // An unusable secret is reported; the placeholder is never read, since the config is refused.
    password: r.secret("password", { required: true }) ?? ({ from: "env", name: "" } satisfies SecretRef),
    authLevel: r.oneOf("auth_level", SURREAL_AUTH_LEVELS, "database"),
    caBundle: r.path("ca_bundle", { mustRead: true }),
    connectTimeoutSeconds: r.int("connect_timeout_seconds", { min: 1, max: 120, fallback: DEFAULT_SURREAL_CONNECT_TIMEOUT_SECONDS }),
    bufferMaxWrites: r.int("buffer_max_writes", { min: 100, max: 1_000_000, fallback: DEFAULT_SURREAL_BUFFER_MAX_WRITES }),
    retentionDays,
  };
}

function readUrl(r: Reader): string {
  if (!r.has("url")) {
    r.skip("url");
    r.problem("url", `is required with backend = "surrealdb"`);
    return "";
  }
  const text = r.string("url");
  if (text === undefined) return "";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    r.problem("url", `${quote(text)} is not a ws:// or wss:// URL`);
    return "";
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    r.problem("url", `${quote(text)} is not a ws:// or wss:// URL`);
    return "";
  }
  if (url.username !== "" || url.password !== "") {
    // The value is not shown: it holds a password.
    r.problem("url", "must not carry credentials; use username and password_file");
    return "";
  }
  return text;
}
