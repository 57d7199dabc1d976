/** @module Reads the TOML config file: strict UTF-8, parse errors with line and column, then full validation. */
import { resolve } from "node:path";
import { parse, TomlError } from "smol-toml";
import { RotaError } from "../errors.ts";
import { readConfigBytes } from "./file.ts";
import { lookupParse, rememberParse, wholeDoc, type CacheLookup } from "./parse-cache.ts";
import type { ValidateOptions } from "./reader.ts";
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
export function loadConfigWarned(path: string, env: Record<string, string | undefined> = process.env, opts: ValidateOptions = {}): { config: RotaConfig; warnings: string[] } {
  const file = resolve(path);
  return parseWarned(readConfigFile(file), file, env, opts);
}

/** What `loadConfigCached` loaded. */
export interface CachedLoad {
  config: RotaConfig;
  warnings: string[];
  /**
   * Keeps this parse for the next start, in the state folder (which must exist by then);
   * nothing to do when the parse came from there. Throws what the write throws. Once only:
   * the first call lets go of the document, and later calls do nothing.
   */
  remember(): void;
}

/**
 * `loadConfigWarned` for the daemon's start and reloads: the TOML document comes from the parse cache
 * (parse-cache.ts) when it holds one for exactly these bytes and this build (`tag`), and is
 * validated as a fresh parse would be. Same result, same problems, same exit.
 */
export function loadConfigCached(path: string, tag: string, env: Record<string, string | undefined> = process.env): CachedLoad {
  const file = resolve(path);
  const bytes = readConfigFile(file);
  return loadLooked(bytes, file, lookupParse(bytes, file, tag), env);
}

/** `loadConfigCached` once the cache has been looked up for the file's `bytes`. */
export function loadLooked(bytes: Uint8Array, file: string, lookup: CacheLookup, env: Record<string, string | undefined>): CachedLoad {
  const cached = lookup.hit && wholeDoc(lookup.hit);
  if (cached) {
    const result = validateConfig(cached, file, env);
    // A cache is trusted only in the state folder this config names; a config with problems
    // is reported by the path every other load takes (the same document, so the same problems).
    if (result.ok && result.config.daemon.stateDir === lookup.dir) return { config: result.config, warnings: result.warnings, remember: nothingToRemember };
  }
  const doc = parseDoc(bytes, file);
  const { config, warnings } = validated(doc, file, env);
  // Elsewhere than the guessed folder, the next start would not find it.
  return { config, warnings, remember: config.daemon.stateDir === lookup.dir ? rememberOnce(lookup.dir, lookup.key, doc) : nothingToRemember };
}

export function nothingToRemember(): void {}

/**
 * `remember` for a fresh parse. Made here, not inline: the daemon holds it for its whole life,
 * and a closure inside `loadConfigCached` would keep that call's scope, a cached document
 * included. It lets go of `doc` (a table, two arrays and their strings per cert) at its first call.
 */
function rememberOnce(dir: string, key: string, doc: Record<string, unknown>): () => void {
  let kept: Record<string, unknown> | null = doc;
  return () => {
    if (kept) rememberParse({ dir, key }, kept);
    kept = null;
  };
}

/** The config file's bytes; what keeps them from being read is a ConfigError. */
export function readConfigFile(file: string): Uint8Array {
  try {
    return readConfigBytes(file);
  } catch (err) {
    // Its message is the problem line; the errno behind it stays in the cause.
    throw new ConfigError(file, [(err as Error).message]);
  }
}

export function parseConfigText(bytes: Uint8Array, file: string, env: Record<string, string | undefined> = process.env): RotaConfig {
  return parseWarned(bytes, file, env).config;
}

function parseWarned(bytes: Uint8Array, file: string, env: Record<string, string | undefined>, opts: ValidateOptions = {}): { config: RotaConfig; warnings: string[] } {
  return validated(parseDoc(bytes, file), file, env, opts);
}

function parseDoc(bytes: Uint8Array, file: string): Record<string, unknown> {
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
  return doc;
}

function validated(doc: Record<string, unknown>, file: string, env: Record<string, string | undefined>, opts: ValidateOptions = {}): { config: RotaConfig; warnings: string[] } {
  const result = validateConfig(doc, file, env, opts);
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
