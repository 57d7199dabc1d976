/** @module Loads the full config for commands that need it, turning problems into exit code 2. */
import { ConfigError, loadConfig } from "../config/load.ts";
import type { RotaConfig } from "../config/schema.ts";
import { CliExit, EXIT } from "./exit.ts";
import { configPath } from "./target.ts";

export function loadConfigOrExit(flag: string | undefined): RotaConfig {
  const { path } = configPath(flag);
  try {
    return loadConfig(path);
  } catch (err) {
    throw configExit(err);
  }
}

/** A ConfigError as exit 2 with one line per problem; anything else unchanged. */
export function configExit(err: unknown): unknown {
  if (!(err instanceof ConfigError)) return err;
  return new CliExit(EXIT.usage, [`rota: config ${err.file} is not valid:`, ...err.problems.map((p) => `  ${p}`)].join("\n"));
}
