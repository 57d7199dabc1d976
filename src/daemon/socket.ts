/** @module The unix socket the API listens on: 0600 from the moment it exists, and never two daemons on one path. */
import { chmodSync, unlinkSync } from "node:fs";
import { connect } from "node:net";
import { dirname } from "node:path";
import { RotaError } from "../errors.ts";
import { errnoText } from "../config/paths.ts";
import { ensureDir, lstatOrNull } from "../fsutil.ts";

/** Whether something accepts connections on the socket path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * The socket path cannot be used: the folder cannot be created or written, something
 * other than a socket is there, or the bind fails. `reason` says why without the path's
 * config key, which the daemon adds.
 */
export class SocketPathError extends RotaError {
  constructor(
    readonly reason: string,
    cause?: unknown,
  ) {
    super("socket_path", `daemon: ${reason}`, { cause, noRetry: true });
  }
}

/**
 * Binds `serve` to a fresh socket at `path`, created under umask 0177 so it is never
 * wider than 0600. Throws SocketPathError when the path cannot be used, and
 * RotaError("socket_busy") when another daemon answers there.
 */
export async function listenUnix<T>(path: string, serve: (path: string) => T): Promise<T> {
  const cannotListen = (err: unknown) => new SocketPathError(`cannot listen on ${path}: ${errnoText(err)}`, err);
  try {
    ensureDir(dirname(path), 0o755);
  } catch (err) {
    throw cannotListen(err);
  }
  const existing = lstatOrNull(path);
  if (existing) {
    // Only ever remove a stale socket: a file or folder at this path is someone's data.
    if (!existing.isSocket()) throw new SocketPathError(`${path} exists and is not a socket; refusing to replace it`);
    if (await answers(path)) throw new RotaError("socket_busy", `daemon: another rota daemon is listening on ${path}`, { noRetry: true });
    try {
      unlinkSync(path);
    } catch (err) {
      throw cannotListen(err);
    }
  }
  const old = process.umask(0o177);
  try {
    const server = serve(path);
    chmodSync(path, 0o600);
    return server;
  } catch (err) {
    throw cannotListen(err);
  } finally {
    process.umask(old);
  }
}
