/** @module Config keys of an `[[install]] type = "haproxy"` section. */
import { lstatSync } from "node:fs";
import { isAbsolute } from "node:path";
import { quote, type Reader } from "../../../config/reader.ts";
import type { ConfiguredFolder } from "../../registry.ts";
import type { Command } from "../command.ts";
import { readCommand, readCommandTimeout, readPostInstall } from "../command-config.ts";
import type { Endpoint } from "./client.ts";

export interface HaproxyConfig {
  /** Bundles land at `<dir>/<cert id>.pem`, the path HAProxy's `crt` line names. */
  dir: string;
  /** Runtime API sockets, each hot-swapped in turn; empty when `reloadCommand` does it all. */
  sockets: Endpoint[];
  /** Run when a socket does not reference the bundle yet, or instead of the runtime API when `sockets` is empty. */
  reload?: Command;
  /** Run after a successful install, with the cert in its environment (a deploy hook). */
  postInstall?: Command;
}

/** `127.0.0.1:9999`, `[::1]:9999`, `lb.internal:9999`; anything else must be a unix socket's absolute path. */
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

export function parseHaproxyConfig(r: Reader): HaproxyConfig {
  const dir = r.path("dir", { required: true, ifExists: "directory" });
  // HAProxy's CLI splits a command on spaces: a path holding one would name another certificate.
  if (dir !== undefined && /\s/.test(dir)) r.problem("dir", `${quote(dir)} holds whitespace, which HAProxy's runtime API cannot take in a path`);
  const sockets = readSockets(r);
  const timeout = readCommandTimeout(r);
  const reload = readCommand(r, "reload_command", timeout);
  const postInstall = readPostInstall(r, timeout);
  if (sockets?.length === 0 && reload === undefined && !r.has("reload_command")) {
    r.problem("sockets", "is empty: list the runtime API sockets, or set reload_command");
  }
  return { dir: dir ?? "", sockets: sockets ?? [], ...(reload && { reload }), ...(postInstall && { postInstall }) };
}

function readSockets(r: Reader): Endpoint[] | undefined {
  const list = r.stringList("sockets");
  if (list === undefined) {
    if (!r.has("sockets")) r.problem("sockets", 'is required: the runtime API sockets ("stats socket … level admin"), or [] with reload_command');
    return undefined;
  }
  const endpoints: Endpoint[] = [];
  let refused = false;
  const refuse = (key: string, message: string) => {
    r.ctx.problems.add(key, message);
    refused = true;
  };
  for (const { value, key } of list.items) {
    const m = HOST_PORT.exec(value);
    if (m) {
      const port = Number(m[3]);
      if (port < 1 || port > 65535) refuse(key, `${quote(value)}: port must be between 1 and 65535`);
      else endpoints.push({ kind: "tcp", host: m[1] ?? m[2]!, port });
      continue;
    }
    // Not resolved against the config's folder: a mistyped host:port would become a file name there, found by no one.
    if (!isAbsolute(value)) {
      if (/^[^/]*:[^/]*$/.test(value)) refuse(key, `${quote(value)} is not host:port (the port a number from 1 to 65535), nor an absolute socket path`);
      else refuse(key, `${quote(value)} is a relative path: give the socket's absolute path, as HAProxy's "stats socket" line names it, or host:port`);
      continue;
    }
    // Missing is fine (HAProxy may start after rota); anything else there is a mistake.
    let isSocket = true;
    try {
      isSocket = lstatSync(value).isSocket();
    } catch {
      // Nothing there yet.
    }
    if (!isSocket) refuse(key, `${value} exists and is not a socket`);
    else endpoints.push({ kind: "unix", path: value });
  }
  // An entry refused is already said: "is empty" about what is left would only confuse.
  return list.complete && !refused ? endpoints : undefined;
}

/** Each cert's bundle, key included, lands in `dir`. */
export function haproxyKeyFolders(c: HaproxyConfig): ConfiguredFolder[] {
  return [{ key: "dir", path: c.dir }];
}
