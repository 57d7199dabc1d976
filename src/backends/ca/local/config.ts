/** @module Config keys of an `[[ca]] type = "local"` section. */
import type { Reader } from "../../../config/reader.ts";

export interface LocalCaConfig {
  validityDays: number;
  /** Prefix of the root and intermediate CNs; only read when they are first created, each local CA its own. */
  commonName: string | undefined;
}

/** The CN prefix of the root and intermediate when `common_name` is not set. */
export const DEFAULT_COMMON_NAME = "rota local CA";

/** A local CA's name is its folder's name under `<state_dir>/local-ca/`. */
const FOLDER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function parseLocalCaConfig(r: Reader): LocalCaConfig {
  if (r.has("name")) r.string("name", { pattern: FOLDER_NAME, patternHint: "must match [A-Za-z0-9][A-Za-z0-9._-]* (a local CA's name is its folder's name)" });
  return {
    validityDays: r.int("validity_days", { min: 1, max: 3650, fallback: 90 }),
    commonName: r.string("common_name"),
  };
}
