/** @module Every secret a config names (`*_file`, `*_env`): read so doctor's output can be scrubbed of them, or missing from this shell. */
import { readSecret, secretRefs } from "../config/secret.ts";

/** The values behind every SecretRef found in `value`; unreadable ones are left out. */
export function secretValues(value: unknown): string[] {
  const out: string[] = [];
  for (const ref of secretRefs(value)) {
    try {
      const s = readSecret(ref);
      if (s !== "") out.push(s);
    } catch {
      // Unreadable: nothing of it can be printed either.
    }
  }
  return out;
}

/** The `*_env` variables `value` names that this process's environment does not set (or sets empty), each once. */
export function unsetEnvNames(value: unknown, env: Record<string, string | undefined> = process.env): string[] {
  return [...new Set(secretRefs(value).flatMap((r) => (r.from === "env" && !env[r.name] ? [r.name] : [])))];
}
