/** @module The version, injected by scripts/build-binary.ts; "dev" when run from source. */
declare const ROTA_VERSION: string | undefined;

export const VERSION: string = typeof ROTA_VERSION === "string" ? ROTA_VERSION : "dev";
