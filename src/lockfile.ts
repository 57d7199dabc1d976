/**
 * @module Exclusive locks between processes (and within one), held as an exclusive
 * SQLite lock on a small file: POSIX fcntl underneath, so the kernel drops a lock when its
 * holder dies, however it dies, and no stale lock file ever needs clearing. Waiting is
 * an async retry loop, never a blocking busy handler, so a holder in the same process
 * can finish while another caller waits.
 */
import { Database } from "bun:sqlite";
import { RotaError } from "./errors.ts";
import { sleep } from "./sleep.ts";

export interface Lock {
  release(): void;
}

const RETRY_MS = 25;

function tryLock(path: string): Lock | null {
  const db = new Database(path, { create: true });
  try {
    db.exec("PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;");
  } catch {
    db.close();
    return null;
  }
  return { release: () => db.close() };
}

/** Takes the lock at `path` now, or throws RotaError("locked") naming `what` holds it. */
export function lockNow(path: string, what: string): Lock {
  const lock = tryLock(path);
  if (!lock) throw new RotaError("locked", what, { noRetry: true });
  return lock;
}

/**
 * Runs `fn` holding the lock at `path`, waiting up to `waitMs` for it; `signal`, when given,
 * ends the wait with RotaError("aborted") (it is not handed to `fn`).
 */
export async function withLock<T>(path: string, waitMs: number, who: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + waitMs;
  let lock = tryLock(path);
  while (!lock) {
    if (signal?.aborted) throw new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason });
    if (Date.now() > deadline) throw new RotaError("locked", `${who}: ${path} stayed locked for ${waitMs / 1000} s`);
    await sleep(RETRY_MS);
    lock = tryLock(path);
  }
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
