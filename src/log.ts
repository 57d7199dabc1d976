/** @module The daemon's logger: consola, tagged per component ("scheduler", "cert:www"). */
import { createConsola, type ConsolaInstance } from "consola";

export type Logger = ConsolaInstance;

export function createLogger(level: "quiet" | "info" | "debug" = "info"): Logger {
  return createConsola({ level: level === "quiet" ? 1 : level === "debug" ? 4 : 3, stdout: process.stderr, stderr: process.stderr });
}
