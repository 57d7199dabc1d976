/** @module Reads the TOML config file: strict UTF-8, parse errors with line and column, then full validation. */
import { resolve } from "node:path";
import { parse, TomlError } from "smol-toml";
import { RotaError } from "../errors.ts";
import { readConfigBytes } from "./file.ts";
import type { RotaConfig } from "./schema.ts";
import { validateConfig, type PartialConfig } from "./validate.ts";

/** A config that cannot be used; `problems` holds one line per problem. The CLI prints them and exits 2. */
export class ConfigError extends RotaError {
  constructor(
    readonly file: string,
    readonly problems: string[],
    /** What did validate, when the file parsed: `rota check-config` checks the machine for it too. */
    readonly partial?: PartialConfig,
  ) {
    super("config_invalid", `config ${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems`}`, { noRetry: true });
  }
}

export function loadConfig(path: string, env: Record<string, string | undefined> = process.env): RotaConfig {
  return loadConfigWarned(path, env).config;
}

/** `loadConfig`, with what works but is likely a mistake (`<key path>: message` lines) beside the config. */
export function loadConfigWarned(path: string, env: Record<string, string | undefined> = process.env): { config: RotaConfig; warnings: string[] } {
  const file = resolve(path);
  let bytes: Uint8Array;
  try {
    bytes = readConfigBytes(file);
  } catch (err) {
    // Its message is the problem line; the errno behind it stays in the cause.
    throw new ConfigError(file, [(err as Error).message]);
  }
  return parseWarned(bytes, file, env);
}

export function parseConfigText(bytes: Uint8Array, file: string, env: Record<string, string | undefined> = process.env): RotaConfig {
  return parseWarned(bytes, file, env).config;
}

function parseWarned(bytes: Uint8Array, file: string, env: Record<string, string | undefined>): { config: RotaConfig; warnings: string[] } {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(file, [`${invalidUtf8Position(bytes)}: not valid UTF-8`]);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
      throw new ConfigError(file, [`line ${err.line}, column ${err.column}: ${first}`]);
    }
    throw err;
  }
  const result = validateConfig(doc, file, env);
  if (!result.ok) throw new ConfigError(file, result.problems, result.partial);
  return { config: result.config, warnings: result.warnings };
}

/** "line N" of the first byte that breaks UTF-8 decoding, for the error message. */
function invalidUtf8Position(bytes: Uint8Array): string {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let line = 1;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        decoder.decode(bytes.subarray(start, i));
      } catch {
        return `line ${line}`;
      }
      line++;
      start = i + 1;
    }
  }
  return `line ${line}`;
}
