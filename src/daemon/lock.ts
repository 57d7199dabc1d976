/**
 * @module One daemon per state folder. Two daemons on one `state_dir` would remove each
 * other's live challenges as "left by a crash" and renew the same certs twice. The lock
 * is an exclusive SQLite lock (POSIX fcntl underneath), so the kernel releases it when
 * the holder dies, however it dies: no stale lock files.
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { RotaError } from "../errors.ts";

export interface StateLock {
  release(): void;
}

export function lockStateDir(stateDir: string): StateLock {
  const path = join(stateDir, "daemon.lock");
  const db = new Database(path, { create: true });
  try {
    db.exec("PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;");
  } catch (err) {
    db.close();
    throw new RotaError("state_locked", `daemon: another rota daemon is running on state_dir ${stateDir}`, { cause: err, noRetry: true });
  }
  return {
    release() {
      db.close();
    },
  };
}
