/** @module The hidden subcommand the daemon runs its renewal workers under; apart so the CLI entry reads it without loading the pipeline. */
export const CHILD_COMMAND = "__renewal";

/**
 * JavaScriptCore options a worker starts with (Bun reads `BUN_JSC_*` from the environment
 * before any code runs). Without the JIT: a renewal's own CPU is in native crypto and JSON,
 * and the JIT's tiers cost a worker ~7 MiB of compiled code and compiler data over its first
 * hundred renewals (its anonymous memory 13.7 → 6.2 MiB) and their compile threads' CPU
 * (bench/README.md, "A renewal worker's memory"). The daemon keeps its JIT for its sweeps.
 */
export const WORKER_JSC_ENV: Readonly<Record<string, string>> = { BUN_JSC_useJIT: "0" };
