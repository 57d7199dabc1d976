/**
 * @module Which daemon a client command talks to. Remote: `--url` (or ROTA_URL) with a
 * token from `--token-file` (or ROTA_TOKEN). Local: `--socket`, else the config's
 * `daemon.socket`, else ROTA_SOCKET, else the default. Clients read only that key, so a
 * user who cannot read the daemon's secret files can still use the CLI, and a config with
 * a mistake elsewhere still leads `rota reload` to the daemon that reports it.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse } from "smol-toml";
import { readConfigBytes } from "../config/file.ts";
import { DEFAULT_CONFIG_PATH, DEFAULT_SOCKET } from "../config/schema.ts";
import type { Endpoint } from "./client.ts";
import { CliExit, EXIT } from "./exit.ts";

export const connectionArgs = {
  config: { type: "string", description: "Config file (default: ROTA_CONFIG, else /etc/rota/rota.toml)" },
  socket: { type: "string", description: "Daemon socket (default: from the config, else ROTA_SOCKET, else /run/rota/rota.sock)" },
  url: { type: "string", description: "A daemon's HTTP API instead of its socket, e.g. https://nas:8844 (default: ROTA_URL)" },
  "token-file": { type: "string", description: "File holding the API token for --url (default: the ROTA_TOKEN variable)" },
  "ca-file": { type: "string", description: "PEM of the CA that issued the daemon's certificate, for --url over https" },
} as const;

interface ConnectionFlags {
  config?: string;
  socket?: string;
  url?: string;
  "token-file"?: string;
  "ca-file"?: string;
}

/** The daemon to talk to, from the flags and the environment; a usage error (exit 2) when they do not add up. */
export function endpoint(args: ConnectionFlags, env: Record<string, string | undefined> = process.env): Endpoint {
  // A socket or config named on the command line beats ROTA_URL from the environment.
  const urlText = args.url ?? (args.socket || args.config ? undefined : env.ROTA_URL || undefined);
  if (urlText === undefined) {
    if (args["token-file"] || args["ca-file"]) throw new CliExit(EXIT.usage, "rota: --token-file and --ca-file go with --url (or ROTA_URL)");
    return { kind: "socket", socket: socketPath(args) };
  }
  if (args.url && args.socket) throw new CliExit(EXIT.usage, "rota: give --url or --socket, not both");
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw new CliExit(EXIT.usage, `rota: --url ${JSON.stringify(urlText)} is not a URL (e.g. https://nas.example.com:8844)`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new CliExit(EXIT.usage, `rota: --url must be http:// or https://, not ${url.protocol}`);
  if (url.username || url.password) throw new CliExit(EXIT.usage, "rota: --url must not carry credentials; give the token with --token-file or ROTA_TOKEN");
  const token = args["token-file"] ? readFlagFile("--token-file", args["token-file"]).trim() : env.ROTA_TOKEN?.trim();
  if (!token) throw new CliExit(EXIT.usage, "rota: --url needs the API token: --token-file FILE or the ROTA_TOKEN variable");
  const ca = args["ca-file"] ? readFlagFile("--ca-file", args["ca-file"]) : undefined;
  return { kind: "url", url, token, ca };
}

function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new CliExit(EXIT.usage, `rota: ${flag} ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message.split("\n")[0]}`);
  }
}

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
