/** @module The unix socket the API listens on: 0600 from the moment it exists, and never two daemons on one path. */
import { chmodSync, lstatSync, unlinkSync, type Stats } from "node:fs";
import { connect } from "node:net";
import { dirname } from "node:path";
import { RotaError } from "../errors.ts";
import { ensureDir } from "../fsutil.ts";

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

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** Binds `serve` to a fresh socket at `path`, created under umask 0177 so it is never wider than 0600. */
export async function listenUnix<T>(path: string, serve: (path: string) => T): Promise<T> {
  ensureDir(dirname(path), 0o755);
  const existing = lstatOrNull(path);
  if (existing) {
    // Only ever remove a stale socket: a file or folder at this path is someone's data.
    if (!existing.isSocket()) throw new RotaError("socket_path", `daemon: ${path} exists and is not a socket; refusing to replace it`, { noRetry: true });
    if (await answers(path)) throw new RotaError("socket_busy", `daemon: another rota daemon is listening on ${path}`, { noRetry: true });
    unlinkSync(path);
  }
  const old = process.umask(0o177);
  try {
    const server = serve(path);
    chmodSync(path, 0o600);
    return server;
  } finally {
    process.umask(old);
  }
}
