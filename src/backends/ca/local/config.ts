/** @module Config keys of an `[[ca]] type = "local"` section. */
import type { Reader } from "../../../config/reader.ts";

export interface LocalCaConfig {
  validityDays: number;
  /** Prefix of the root and intermediate CNs; only read when they are first created. */
  commonName: string | undefined;
}

export function parseLocalCaConfig(r: Reader): LocalCaConfig {
  return {
    validityDays: r.int("validity_days", { min: 1, max: 3650, fallback: 90 }),
    commonName: r.string("common_name"),
  };
}
