/** @module Secrets in the config: where each one lives (a file or an environment variable), read only when used. */
import { readFileSync } from "node:fs";

export type SecretRef = { from: "file"; path: string } | { from: "env"; name: string };

export function readSecret(ref: SecretRef): string {
  if (ref.from === "env") return process.env[ref.name] ?? "";
  return readFileSync(ref.path, "utf8").trim();
}
