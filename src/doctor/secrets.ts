/** @module Every secret value a config names (`*_file`, `*_env`), read so doctor's output can be scrubbed of them. */
import { readSecret, type SecretRef } from "../config/secret.ts";

function isSecretRef(v: unknown): v is SecretRef {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Partial<Record<string, unknown>>;
  return (r.from === "file" && typeof r.path === "string") || (r.from === "env" && typeof r.name === "string");
}

/** The values behind every SecretRef found in `value`, walked a few levels deep; unreadable ones are left out. */
export function secretValues(value: unknown, depth = 0, out: string[] = []): string[] {
  if (depth > 8 || typeof value !== "object" || value === null) return out;
  if (isSecretRef(value)) {
    try {
      const s = readSecret(value);
      if (s !== "") out.push(s);
    } catch {
      // Unreadable: nothing of it can be printed either.
    }
    return out;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) secretValues(v, depth + 1, out);
  return out;
}
