/**
 * @module Which config file and socket a client command talks to: `--socket`, else the
 * config's `daemon.socket`, else ROTA_SOCKET, else the default. Clients read only that
 * key, so a user who cannot read the daemon's secret files can still use the CLI.
 */
import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse } from "smol-toml";
import { readConfigBytes } from "../config/file.ts";
import { DEFAULT_CONFIG_PATH, DEFAULT_SOCKET } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
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
  let doc: Record<string, unknown>;
  try {
    doc = parse(new TextDecoder().decode(readConfigBytes(path))) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof RotaError) throw new CliExit(EXIT.usage, `rota: config ${path}: ${err.message}`);
    throw new CliExit(EXIT.usage, `rota: cannot read config ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
  const daemon = doc.daemon as Record<string, unknown> | undefined;
  const socket = daemon?.socket;
  if (typeof socket !== "string" || socket === "") return undefined;
  return isAbsolute(socket) ? socket : resolve(dirname(path), socket);
}
