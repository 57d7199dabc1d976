/** @module Exit codes of the `rota` command, and the error a command throws to end with one. */

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  unknownCert: 4,
  /** Ctrl-C, as a shell reports a death by SIGINT. */
  interrupted: 130,
} as const;

/**
 * Thrown by commands; the entry point prints `message` (if any) to stderr and exits with
 * `code`. `cause` keeps the underlying error for whoever debugs, not for the user's line.
 */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message = "",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliExit";
  }
}
