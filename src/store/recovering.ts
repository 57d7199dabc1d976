/**
 * @module An audit store that survives its database file going bad. When SQLite reports
 * corruption (at open or in any query) the file is moved aside, never deleted, a fresh one
 * takes its place and the call is tried once more: history and cooldowns start empty, but
 * renewals go on from what the targets serve. No full integrity check runs at start: it
 * would slow every restart as history grows.
 */
import { existsSync, renameSync } from "node:fs";
import type { Clock } from "../clock.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { SqliteAuditStore } from "./sqlite.ts";
import type { AuditStore } from "./types.ts";

const CORRUPTION = new Set(["SQLITE_CORRUPT", "SQLITE_NOTADB"]);

/** Whether SQLite said the database file is damaged (rather than unreachable or busy). */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (CORRUPTION.has(code) || [...CORRUPTION].some((c) => code.startsWith(`${c}_`)));
}

/** `rota.db` → `rota.db.corrupt-20301231T235959Z`, with its -wal and -shm files beside it. */
function moveAside(path: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const dest = `${path}.corrupt-${stamp}`;
  renameSync(path, dest);
  for (const suffix of ["-wal", "-shm"]) {
    if (existsSync(path + suffix)) renameSync(path + suffix, dest + suffix);
  }
  return dest;
}

export function openRecoveringStore(path: string, log: Logger, clock: Clock): AuditStore {
  let inner: SqliteAuditStore;
  const replace = (err: unknown): SqliteAuditStore => {
    const dest = moveAside(path, clock.now());
    log.error(
      `audit store: ${path} is corrupt (${describeError(err)}); moved it to ${dest} and started a fresh database. Renewal history and cooldowns start empty; renewals go on from what the targets serve`,
    );
    return new SqliteAuditStore(path);
  };
  try {
    inner = new SqliteAuditStore(path);
  } catch (err) {
    if (!isCorruption(err)) throw err;
    inner = replace(err);
  }

  let recovering: Promise<void> | null = null;
  const recover = (failed: SqliteAuditStore, err: unknown): Promise<void> => {
    // Calls failing together recover once; a call that failed on an older file just retries.
    if (failed !== inner) return Promise.resolve();
    recovering ??= (async () => {
      await failed.close().catch(() => {});
      inner = replace(err);
    })().finally(() => {
      recovering = null;
    });
    return recovering;
  };

  return new Proxy({} as AuditStore, {
    get(_, prop: keyof AuditStore) {
      return async (...args: unknown[]) => {
        if (recovering) await recovering;
        const used = inner;
        const call = () => (inner[prop] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
        try {
          return await call();
        } catch (err) {
          if (prop === "close" || !isCorruption(err)) throw err;
          await recover(used, err);
          return call();
        }
      };
    },
  });
}
