/**
 * @module Secrets in the config: where each one lives (a file or an environment variable), read
 * only when used; which variables the config names, so commands rota runs are not handed them;
 * and what this process has read, so a command's output is scrubbed of it.
 */
import { readFileSync } from "node:fs";

export type SecretRef = { from: "file"; path: string } | { from: "env"; name: string };

/** Shorter values are not redacted: "[redacted]" in place of every `abc` would garble a message and hide nothing. */
const MIN_REDACTED = 4;

/**
 * Every value `readSecret` returned in this process. A file rotated while the daemon runs adds
 * its new value; a process reads few secrets, so the set stays small.
 */
const read = new Set<string>();

/**
 * The secret's value, surrounding whitespace trimmed from a file and a variable alike: a
 * secret has none of its own, and `echo`, editors and `export X="$(cat f)"`-style setups add a newline.
 */
export function readSecret(ref: SecretRef): string {
  const value = (ref.from === "env" ? (process.env[ref.name] ?? "") : readFileSync(ref.path, "utf8")).trim();
  if (value.length >= MIN_REDACTED) read.add(value);
  return value;
}

/** The values of every secret this process has read so far (`*_file` and `*_env` alike). */
export function secretsRead(): string[] {
  return [...read];
}

/** `text` with each of `secrets` (of 4 characters or more) replaced by `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= MIN_REDACTED) out = out.split(s).join("[redacted]");
  return out;
}

/** A PEM private key block, or the start of one whose end was cut off. */
const KEY_BLOCK = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
/** The end of a block whose start was cut off: everything before the marker goes with it. */
const KEY_END = /^[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * `text` without any private key in PEM form: a command that prints the key it was just
 * given (`cat privkey.pem`, `openssl … -text`) must not put it in a message, the log or the
 * audit store. A block cut at either end by output trimming is removed too.
 */
export function withoutPrivateKeys(text: string): string {
  if (!text.includes("PRIVATE KEY-----")) return text;
  return text.replace(KEY_BLOCK, "[private key redacted]").replace(KEY_END, "[private key redacted]");
}

function isSecretRef(v: unknown): v is SecretRef {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Partial<Record<string, unknown>>;
  return (r.from === "file" && typeof r.path === "string") || (r.from === "env" && typeof r.name === "string");
}

/** Every SecretRef found in `value` (a config or a part of it), walked a few levels deep. */
export function secretRefs(value: unknown, depth = 0, out: SecretRef[] = []): SecretRef[] {
  if (depth > 8 || typeof value !== "object" || value === null) return out;
  if (isSecretRef(value)) {
    out.push(value);
    return out;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) secretRefs(v, depth + 1, out);
  return out;
}

/** Per loaded config, which is never changed in place (a reload makes a new one): a worker spawn asks each time. */
const envNames = new WeakMap<object, string[]>();

/**
 * The variables every `*_env` key of `config` names, in every section (not only one cert's),
 * sorted, each once: the environment commands run with leaves them out.
 */
export function secretEnvNames(config: object): string[] {
  let names = envNames.get(config);
  if (!names) envNames.set(config, (names = [...new Set(secretRefs(config).flatMap((r) => (r.from === "env" ? [r.name] : [])))].sort()));
  return names;
}
