/**
 * @module The version, target and commit, injected by scripts/build-binary.ts; "dev" and
 * "unknown" when run from source.
 */
declare const ROTA_VERSION: string | undefined;
declare const ROTA_TARGET: string | undefined;
declare const ROTA_COMMIT: string | undefined;

export const VERSION: string = typeof ROTA_VERSION === "string" ? ROTA_VERSION : "dev";
/** `linux-x64-baseline` and the like: what install.sh's smoke test compares with its choice. */
export const TARGET: string = typeof ROTA_TARGET === "string" ? ROTA_TARGET : "unknown";
/** 12 hex characters of the commit built, `-dirty` when the tree had uncommitted changes. */
export const COMMIT: string = typeof ROTA_COMMIT === "string" ? ROTA_COMMIT : "unknown";
