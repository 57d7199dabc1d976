/**
 * @module Typed readers over one parsed TOML table. Each reader records problems with
 * their full key path ("cert[0].domains: must not be empty") instead of throwing, so a
 * broken config is reported in full, and `finish()` rejects keys nobody read.
 */
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";

export class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
}

/** Where a secret comes from; the value itself is read only when it is used. */
export type SecretRef = { from: "file"; path: string } | { from: "env"; name: string };

export function readSecret(ref: SecretRef): string {
  if (ref.from === "env") return process.env[ref.name] ?? "";
  return readFileSync(ref.path, "utf8").trim();
}

export interface ReaderContext {
  problems: Problems;
  /** Relative paths resolve against the config file's folder. */
  baseDir: string;
  env: Record<string, string | undefined>;
}

type Table = Record<string, unknown>;

export function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (isTable(v)) return "a table";
  return `a ${typeof v}`;
}

export class Reader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly table: Table,
    readonly prefix: string,
    readonly ctx: ReaderContext,
  ) {}

  key(k: string): string {
    return this.prefix ? `${this.prefix}.${k}` : k;
  }

  problem(k: string, message: string): void {
    this.ctx.problems.add(this.key(k), message);
  }

  has(k: string): boolean {
    return this.table[k] !== undefined;
  }

  private raw(k: string): unknown {
    this.seen.add(k);
    return this.table[k];
  }

  string(k: string, opts: { required: true; pattern?: RegExp; patternHint?: string }): string;
  string(k: string, opts?: { required?: false; pattern?: RegExp; patternHint?: string }): string | undefined;
  string(k: string, opts: { required?: boolean; pattern?: RegExp; patternHint?: string } = {}): string | undefined {
    const v = this.raw(k);
    if (v === undefined) {
      if (opts.required) this.problem(k, "is required");
      return undefined;
    }
    if (typeof v !== "string") {
      this.problem(k, `must be a string, not ${typeName(v)}`);
      return undefined;
    }
    if (v.trim() === "") {
      this.problem(k, "must not be empty");
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      this.problem(k, `${JSON.stringify(v)} ${opts.patternHint ?? `must match ${opts.pattern}`}`);
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(k: string, values: readonly T[], fallback: T): T {
    const v = this.string(k);
    if (v === undefined) return fallback;
    if (!(values as readonly string[]).includes(v)) {
      this.problem(k, `${JSON.stringify(v)} is not one of ${values.join(", ")}`);
      return fallback;
    }
    return v as T;
  }

  int(k: string, opts: { min: number; max?: number; fallback: number }): number;
  int(k: string, opts: { min: number; max?: number }): number | undefined;
  int(k: string, opts: { min: number; max?: number; fallback?: number }): number | undefined {
    const v = this.raw(k);
    if (v === undefined) return opts.fallback;
    if (typeof v !== "number" && typeof v !== "bigint") {
      this.problem(k, `must be an integer, not ${typeName(v)}`);
      return opts.fallback;
    }
    const n = Number(v);
    if (!Number.isInteger(n)) {
      this.problem(k, "must be an integer");
      return opts.fallback;
    }
    if (n < opts.min || (opts.max !== undefined && n > opts.max)) {
      this.problem(k, opts.max === undefined ? `must be at least ${opts.min}` : `must be between ${opts.min} and ${opts.max}`);
      return opts.fallback;
    }
    return n;
  }

  /** A string or a list of strings, as a list. `oneOrList` lets `install = "files"` stand for `["files"]`. */
  stringList(k: string, opts: { oneOrList?: boolean } = {}): string[] | undefined {
    const v = this.raw(k);
    if (v === undefined) return undefined;
    if (opts.oneOrList && typeof v === "string") return [v];
    if (!Array.isArray(v)) {
      this.problem(k, `must be ${opts.oneOrList ? "a string or " : ""}a list of strings, not ${typeName(v)}`);
      return undefined;
    }
    const out: string[] = [];
    v.forEach((item, i) => {
      if (typeof item !== "string" || item.trim() === "") this.ctx.problems.add(`${this.key(k)}[${i}]`, "must be a non-empty string");
      else out.push(item);
    });
    // A list with holes would shift the index of every later problem ("[2]" reported as "[1]").
    return out.length === v.length ? out : undefined;
  }

  /** A filesystem path, resolved against the config folder. `mustRead`: a file that exists and is readable now. */
  path(k: string, opts: { required: true; mustRead?: boolean; dir?: boolean }): string;
  path(k: string, opts?: { required?: false; mustRead?: boolean; dir?: boolean }): string | undefined;
  path(k: string, opts: { required?: boolean; mustRead?: boolean; dir?: boolean } = {}): string | undefined {
    const v = opts.required ? this.string(k, { required: true }) : this.string(k);
    if (v === undefined) return undefined;
    const p = isAbsolute(v) ? v : resolve(this.ctx.baseDir, v);
    if (opts.mustRead) checkReadable(p, opts.dir ?? false, (m) => this.problem(k, m));
    return p;
  }

  /**
   * A secret given as `<k>_file` (a readable file) or `<k>_env` (a set environment
   * variable), never inline. Returns where it lives, never its value.
   */
  secret(k: string, opts: { required: boolean }): SecretRef | undefined {
    const fileKey = `${k}_file`;
    const envKey = `${k}_env`;
    if (this.has(k)) {
      this.raw(k);
      this.problem(k, `secrets are not accepted inline; use ${fileKey} or ${envKey}`);
      return undefined;
    }
    if (this.has(fileKey) && this.has(envKey)) {
      this.raw(fileKey);
      this.raw(envKey);
      this.problem(fileKey, `give ${fileKey} or ${envKey}, not both`);
      return undefined;
    }
    if (this.has(fileKey)) {
      const path = this.path(fileKey, { mustRead: true });
      return path === undefined ? undefined : { from: "file", path };
    }
    if (this.has(envKey)) {
      const name = this.string(envKey);
      if (name === undefined) return undefined;
      if (!this.ctx.env[name]) {
        this.problem(envKey, `environment variable ${name} is not set`);
        return undefined;
      }
      return { from: "env", name };
    }
    if (opts.required) this.problem(fileKey, `is required (or ${envKey})`);
    return undefined;
  }

  isList(k: string): boolean {
    return Array.isArray(this.table[k]);
  }

  /** The sub-table at `k` (an empty one when absent), read through its own Reader. */
  child(k: string): Reader {
    const v = this.raw(k);
    if (v !== undefined && !isTable(v)) this.problem(k, "must be a table");
    return new Reader(isTable(v) ? v : {}, this.key(k), this.ctx);
  }

  /** Visits each table of the array of tables `[[k]]` with a reader at `k[i]`. */
  each(k: string, visit: (r: Reader) => void): void {
    const v = this.raw(k);
    if (v === undefined) return;
    if (!Array.isArray(v)) {
      this.problem(k, `must be an array of tables ([[${k}]])`);
      return;
    }
    v.forEach((item, i) => {
      const path = `${this.key(k)}[${i}]`;
      if (isTable(item)) visit(new Reader(item, path, this.ctx));
      else this.ctx.problems.add(path, "must be a table");
    });
  }

  /** Marks every key read, so a section whose type is unknown reports only that. */
  skipRest(): void {
    for (const k of Object.keys(this.table)) this.seen.add(k);
  }

  /** Reports every key of the table that no reader asked for. */
  finish(): void {
    for (const k of Object.keys(this.table)) {
      if (!this.seen.has(k)) this.problem(k, "unknown key");
    }
  }
}

function checkReadable(p: string, dir: boolean, report: (m: string) => void): void {
  let st;
  try {
    st = statSync(p);
  } catch {
    report(`${p} does not exist`);
    return;
  }
  if (dir && !st.isDirectory()) return report(`${p} is not a directory`);
  if (!dir && !st.isFile()) return report(`${p} is not a file`);
  try {
    accessSync(p, constants.R_OK);
  } catch {
    report(`${p} is not readable`);
  }
}
