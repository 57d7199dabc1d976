/** @module Every secret a config names (`*_file`, `*_env`): read so doctor's output can be scrubbed of them, or missing from this shell. */
import { readSecret, type SecretRef } from "../config/secret.ts";

function isSecretRef(v: unknown): v is SecretRef {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Partial<Record<string, unknown>>;
  return (r.from === "file" && typeof r.path === "string") || (r.from === "env" && typeof r.name === "string");
}

/** Every SecretRef found in `value`, walked a few levels deep. */
function secretRefs(value: unknown, depth = 0, out: SecretRef[] = []): SecretRef[] {
  if (depth > 8 || typeof value !== "object" || value === null) return out;
  if (isSecretRef(value)) {
    out.push(value);
    return out;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) secretRefs(v, depth + 1, out);
  return out;
}

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
