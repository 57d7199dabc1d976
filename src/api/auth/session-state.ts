/**
 * @module What browser sessions keep under `<state_dir>/http/` (a 0700 folder), read once
 * when the TCP listener first starts: `session.key`, 32 random bytes that sign every
 * cookie, and `revoked.json`, the logouts still in force. They are made together. A key
 * whose revocations are lost cannot tell which of its cookies were logged out, so it is
 * replaced: every session ends, and none that was logged out comes back.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../../clock.ts";
import { describeError, RotaError } from "../../errors.ts";
import { ensureDir, writeFileAtomic } from "../../fsutil.ts";
import type { Logger } from "../../log.ts";
import { readRevoked, RevokedSessions, writeRevoked, type RevokedFile } from "./revoked.ts";

const KEY_BYTES = 32;

export interface SessionState {
  key: Buffer;
  revoked: RevokedSessions;
}

/**
 * The session key and the logouts in force. A missing or corrupt `revoked.json` is
 * logged and answered with a new key (sessions signed before end); a key that is a
 * symlink or of another size is refused (RotaError), never followed or overwritten.
 */
export function loadSessionState(stateDir: string, clock: Clock, log: Logger): SessionState {
  const dir = join(stateDir, "http");
  ensureDir(dir, 0o700);
  const keyPath = join(dir, "session.key");
  const file: RevokedFile = { path: join(dir, "revoked.json"), log };
  const made = createKey(keyPath);
  if (made) {
    saveEmpty(file);
    return { key: made, revoked: new RevokedSessions(file) };
  }
  const key = readKey(keyPath);
  const read = readRevoked(file.path, clock.now().getTime());
  if (read instanceof Map) return { key, revoked: new RevokedSessions(file, read) };

  log.warn(`http: ${file.path} ${read.problem}: the logouts it held are unknown, so every browser session has ended (a new session key); sign in again`);
  const fresh = randomBytes(KEY_BYTES);
  try {
    writeFileAtomic(keyPath, fresh, { mode: 0o600 });
  } catch (err) {
    // The old key stays on disk: a revocation file written now would vouch for it at the
    // next start. Logouts are kept in memory only, and that start replaces the key again.
    log.error(`http: cannot replace ${keyPath}: ${describeError(err)}; this run signs sessions with a key of its own`);
    return { key: fresh, revoked: new RevokedSessions() };
  }
  saveEmpty(file);
  return { key: fresh, revoked: new RevokedSessions(file) };
}

/** Writes a revocation file with none in it; a failure is logged (the next start, finding none, replaces the key). */
function saveEmpty(file: RevokedFile): void {
  try {
    writeRevoked(file.path, new Map());
  } catch (err) {
    file.log.error(`http: cannot write ${file.path}: ${describeError(err)}; the next start ends every browser session`);
  }
}

/** A new key written to `path` when no file is there (O_EXCL, 0600, no symlink followed); null when one exists. */
function createKey(path: string): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new RotaError("http_session_key", `http: cannot create ${path}`, { cause: err });
    return null;
  }
  const key = randomBytes(KEY_BYTES);
  try {
    writeSync(fd, key);
  } finally {
    closeSync(fd);
  }
  return key;
}

function readKey(path: string): Buffer {
  if (lstatSync(path).isSymbolicLink()) throw new RotaError("http_session_key", `http: ${path} is a symlink; remove it and restart (browser sessions end)`);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== KEY_BYTES) throw new RotaError("http_session_key", `http: ${path} is not a ${KEY_BYTES}-byte key; remove it and restart (browser sessions end)`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
