/**
 * @module An audit store that survives its database file going bad. When SQLite reports
 * corruption (at open or in any query) the file is moved aside with its -wal and -shm
 * files, never deleted, a fresh one takes its place and the call is tried once more:
 * history and cooldowns start empty, but renewals go on from what the targets serve. No
 * full integrity check runs at start: it would slow every restart as history grows.
 */
import { renameSync } from "node:fs";
import type { Clock } from "../clock.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { SqliteAuditStore, type SqliteOptions } from "./sqlite.ts";
import type { AuditStore } from "./types.ts";

const CORRUPTION = new Set(["SQLITE_CORRUPT", "SQLITE_NOTADB"]);

/** Whether SQLite said the database file is damaged (rather than unreachable or busy). */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (CORRUPTION.has(code) || [...CORRUPTION].some((c) => code.startsWith(`${c}_`)));
}

/** `rota.db` → `rota.db.corrupt-20301231T235959Z`. */
function asidePath(path: string, now: Date): string {
  return `${path}.corrupt-${now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`;
}

/**
 * Moves the database and its -wal and -shm files to `dest`. The journal goes with it or
 * the move fails: a fresh database beside an old `-wal` would replay the old pages into itself.
 */
function moveAside(path: string, dest: string): void {
  renameSync(path, dest);
  for (const suffix of ["-wal", "-shm"]) {
    try {
      renameSync(path + suffix, dest + suffix);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

export function openRecoveringStore(path: string, log: Logger, clock: Clock, opts: SqliteOptions = {}): AuditStore {
  const replace = (err: unknown): SqliteAuditStore => {
    const dest = asidePath(path, clock.now());
    try {
      moveAside(path, dest);
      const fresh = new SqliteAuditStore(path, clock, opts);
      log.error(
        `audit store: ${path} is corrupt (${describeError(err)}); moved it to ${dest} and started a fresh database. Renewal history and cooldowns start empty; renewals go on from what the targets serve`,
      );
      return fresh;
    } catch (moveErr) {
      // Certificates matter more than their audit trail: a folder gone read-only or full must
      // not stop renewals, so they go on with a store in memory. Failing every write instead
      // would fail every renewal. The next start finds the damage again and retries the move.
      log.error(
        `audit store: ${path} is corrupt (${describeError(err)}), and moving it to ${dest} to start a fresh database failed (${describeError(moveErr)}); running on an in-memory database until the daemon restarts, so nothing recorded from now on is kept. Free the folder for writing, or move the files aside yourself`,
      );
      return new SqliteAuditStore(":memory:", clock, opts);
    }
  };
  let inner: SqliteAuditStore;
  try {
    inner = new SqliteAuditStore(path, clock, opts);
  } catch (err) {
    if (!isCorruption(err)) throw err;
    inner = replace(err);
  }

  let recovering: Promise<void> | null = null;
  const recover = (failed: SqliteAuditStore, err: unknown): Promise<void> => {
    // Calls failing together recover once; a call that failed on an older file just retries.
    if (failed !== inner) return Promise.resolve();
    recovering ??= (async () => {
      // Closed before the fresh database opens: SQLite's close removes `<path>-wal` by name.
      await failed.abandon().catch(() => {});
      inner = replace(err);
    })().finally(() => {
      recovering = null;
    });
    return recovering;
  };

  return new Proxy({} as AuditStore, {
    get(_, prop) {
      // Not a thenable: `await store` and an async function returning it must give the store itself.
      if (typeof prop === "symbol" || prop === "then") return undefined;
      const method = prop as keyof AuditStore;
      // The one synchronous method: never fails on a damaged file, so nothing to recover.
      if (method === "health") return () => inner.health();
      return async (...args: unknown[]) => {
        if (recovering) await recovering;
        const used = inner;
        const call = () => (inner[method] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
        try {
          return await call();
        } catch (err) {
          if (method === "close" || !isCorruption(err)) throw err;
          await recover(used, err);
          return call();
        }
      };
    },
  });
}
