/**
 * @module Which config file and socket a client command talks to: `--socket`, else the
 * config's `daemon.socket`, else ROTA_SOCKET, else the default. Clients read only that
 * key, so a user who cannot read the daemon's secret files can still use the CLI, and a
 * config with a mistake elsewhere still leads `rota reload` to the daemon that reports it.
 */
import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse } from "smol-toml";
import { readConfigBytes } from "../config/file.ts";
import { DEFAULT_CONFIG_PATH, DEFAULT_SOCKET } from "../config/schema.ts";
import { CliExit, EXIT } from "./exit.ts";

export const connectionArgs = {
  config: { type: "string", description: "Config file (default: ROTA_CONFIG, else /etc/rota/rota.toml)" },
  socket: { type: "string", description: "Daemon socket (default: from the config, else ROTA_SOCKET, else /run/rota/rota.sock)" },
} as const;

export function configPath(flag: string | undefined): { path: string; explicit: boolean } {
  if (flag) return { path: resolve(flag), explicit: true };
  if (process.env.ROTA_CONFIG) return { path: resolve(process.env.ROTA_CONFIG), explicit: true };
  return { path: DEFAULT_CONFIG_PATH, explicit: false };
}

export function socketPath(args: { config?: string; socket?: string }): string {
  if (args.socket) return resolve(args.socket);
  const cfg = configPath(args.config);
  if (cfg.explicit || existsSync(cfg.path)) {
    const fromConfig = socketFromConfig(cfg.path);
    if (fromConfig) return fromConfig;
  }
  return process.env.ROTA_SOCKET || DEFAULT_SOCKET;
}

function socketFromConfig(path: string): string | undefined {
  let text: string;
  try {
    text = new TextDecoder().decode(readConfigBytes(path));
  } catch (err) {
    // A RotaError whose message is the one problem line ("cannot read: no such file").
    throw new CliExit(EXIT.usage, `rota: config ${path}: ${(err as Error).message}`);
  }
  const socket = socketSetting(text);
  if (typeof socket !== "string" || socket === "") return undefined;
  return isAbsolute(socket) ? socket : resolve(dirname(path), socket);
}

/**
 * The value of `daemon.socket` in a config's text, read leniently: a config broken
 * elsewhere must still lead `rota reload` to the daemon, which then lists its problems.
 * When the whole file does not parse, only the lines that can set the key are parsed.
 */
export function socketSetting(text: string): unknown {
  try {
    return (parse(text) as { daemon?: { socket?: unknown } }).daemon?.socket;
  } catch {
    let table = "";
    let found: unknown;
    for (const line of text.split(/\r?\n/)) {
      const header = TABLE_HEADER.exec(line);
      if (header) table = header[1]!.trim();
      else if (table === "daemon" && /^\s*socket\s*=/.test(line)) found = parseLine(line)?.socket ?? found;
      else if (table === "" && /^\s*daemon\s*\.\s*socket\s*=/.test(line)) found = (parseLine(line)?.daemon as Record<string, unknown> | undefined)?.socket ?? found;
    }
    return found;
  }
}

/** `[name]`, not `[[name]]`: an array of tables is never `[daemon]`, and ends the daemon table all the same. */
const TABLE_HEADER = /^\s*\[\[?\s*([^\[\]]*?)\s*\]\]?\s*(?:#.*)?$/;

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    return parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
