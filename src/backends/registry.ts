/**
 * @module The one explicit map from a config `type` to its backend: how to read its
 * config section and how to build it. Implementations are imported lazily so the CLI
 * and an idle daemon never load a vendor's client they do not use.
 */
import type { Reader } from "../config/reader.ts";
import type { BackendContext } from "./context.ts";
import type { CABackend, ChallengeKind, DcvBackend, InstallBackend } from "./types.ts";
import { parseAcmeConfig } from "./ca/acme/config.ts";
import { parseLocalCaConfig } from "./ca/local/config.ts";
import { parseWebrootConfig } from "./dcv/webroot/config.ts";
import { parseFilesystemConfig } from "./install/filesystem/config.ts";

export interface BackendEntry<B, C = unknown> {
  /** Reads and validates the section's own keys; problems go to the reader. */
  parse(r: Reader): C;
  create(name: string, config: C, ctx: BackendContext): Promise<B>;
}

export interface CaEntry<C = unknown> extends BackendEntry<CABackend, C> {
  /** Whether certificates from this CA need a DCV backend (a local CA does not). */
  needsDcv: boolean;
  /** The lifetime of the certificates it issues, in days, when the config alone tells. */
  lifetimeDays?: (options: unknown) => number;
}

export interface DcvEntry<C = unknown> extends BackendEntry<DcvBackend, C> {
  /**
   * The challenge kinds this type solves, known without building it, so validation can
   * refuse what it cannot do (a wildcard needs dns-01). Equals the backend's `supportedKinds()`.
   */
  kinds: readonly ChallengeKind[];
}

/** Keeps each entry's config type checked while the tables below hold them side by side. */
function entry<B, C>(e: BackendEntry<B, C>): BackendEntry<B> {
  return e as BackendEntry<B>;
}

export const CA_TYPES: Record<string, CaEntry> = {
  acme: {
    needsDcv: true,
    ...entry<CABackend, ReturnType<typeof parseAcmeConfig>>({
      parse: parseAcmeConfig,
      create: async (name, cfg, ctx) => (await import("./ca/acme/acme-ca.ts")).createAcmeCa(name, cfg, ctx),
    }),
  },
  local: {
    needsDcv: false,
    lifetimeDays: (options) => (options as ReturnType<typeof parseLocalCaConfig>).validityDays,
    ...entry<CABackend, ReturnType<typeof parseLocalCaConfig>>({
      parse: parseLocalCaConfig,
      create: async (name, cfg, ctx) =>
        (await import("./ca/local/local-ca.ts")).createLocalCa(name, cfg, ctx),
    }),
  },
};

export const DCV_TYPES: Record<string, DcvEntry> = {
  webroot: {
    kinds: ["http-01"],
    ...entry<DcvBackend, ReturnType<typeof parseWebrootConfig>>({
      parse: parseWebrootConfig,
      create: async (name, cfg) => (await import("./dcv/webroot/webroot.ts")).createWebrootDcv(name, cfg),
    }),
  },
};

export const INSTALL_TYPES: Record<string, BackendEntry<InstallBackend>> = {
  filesystem: entry<InstallBackend, ReturnType<typeof parseFilesystemConfig>>({
    parse: parseFilesystemConfig,
    create: async (name, cfg) => (await import("./install/filesystem/filesystem.ts")).createFilesystemInstall(name, cfg),
  }),
};

