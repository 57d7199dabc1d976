/** @module The hidden subcommand the daemon runs its renewal workers under; apart so the CLI entry reads it without loading the pipeline. */
export const CHILD_COMMAND = "__renewal";
