/**
 * @module Typed readers over one parsed TOML table. Each reader records problems with
 * their full key path ("cert[0].domains: must not be empty") instead of throwing, so a
 * broken config is reported in full, and `finish()` rejects keys nobody read.
 */
import { accessSync, constants, lstatSync, readFileSync, statSync, type Stats } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { nearestExisting } from "./paths.ts";
import type { SecretRef } from "./secret.ts";

/** How much of a config value a message shows: a 5 MB value must not flood the terminal or the log. */
const SHOWN_MAX = 80;
/** Linux PATH_MAX is 4096 bytes with its NUL; a longer path fails every call with ENAMETOOLONG. */
const PATH_MAX = 4095;

/** A config value as a message shows it, unquoted: at most 80 characters, "…" marking a cut. */
export function cut(value: string): string {
  const chars = Array.from(value);
  return chars.length <= SHOWN_MAX ? value : `${chars.slice(0, SHOWN_MAX - 1).join("")}…`;
}

/** A config value as a message quotes it: JSON-quoted, cut to 80 characters. Every quoted value goes through here. */
export function quote(value: string): string {
  return JSON.stringify(cut(value));
}

export class Problems {
  readonly list: string[] = [];
  /** What works but is likely a mistake: said, never refused. */
  readonly warnings: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
  warn(path: string, message: string): void {
    this.warnings.push(`${path}: ${message}`);
  }
}

export interface ReaderContext {
  problems: Problems;
  /** Relative paths resolve against the config file's folder. */
  baseDir: string;
  env: Record<string, string | undefined>;
  /**
   * An unset `*_env` variable is a warning, not a problem: for checking a config outside
   * the environment the service gets (install.sh, `rota check-config --allow-unset-env`).
   */
  unsetEnvWarns?: boolean;
}

/** How a validation treats what only the running service can see. */
export interface ValidateOptions {
  unsetEnvWarns?: boolean;
}

type Table = Record<string, unknown>;

/**
 * One well-formed item of a string list, with the key path to report it under. The path is
 * made when asked for: a start reads two lists per `[[cert]]` and reports none of their items.
 */
export class ListItem {
  constructor(
    readonly value: string,
    private readonly reader: Reader,
    private readonly k: string,
    /** The item's index in the list; -1 for a lone string standing for the list. */
    private readonly index: number,
  ) {}

  /** `cert[0].domains[2]`; just `cert[0].install` when a lone string stands for the list. */
  get key(): string {
    const at = this.reader.key(this.k);
    return this.index < 0 ? at : `${at}[${this.index}]`;
  }
}

/** What `Reader.stringList` read. */
export interface StringList {
  /** The well-formed items, each at its own index in the file. */
  items: ListItem[];
  /** False when some item was not a non-empty string (already reported), so `items` has a hole. */
  complete: boolean;
}

/** The list's values, or undefined when an item was malformed: a list with a hole is never used. */
export function valuesOf(list: StringList | undefined): string[] | undefined {
  return list?.complete ? list.items.map((i) => i.value) : undefined;
}

/** What the daemon will create at a path, so what may already be there. */
export type PathKind = "file" | "directory" | "socket";

function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (isTable(v)) return "a table";
  return `a ${typeof v}`;
}

interface StringOpts {
  pattern?: RegExp;
  patternHint?: string;
  maxLength?: number;
}

interface PathOpts {
  mustRead?: boolean;
  dir?: boolean;
  ifExists?: PathKind;
}

/** Options not given: one object for every call, not one per call (a start reads 10,000 `[[cert]]` tables). */
const NO_OPTS = Object.freeze({});

export class Reader {
  /** The keys asked for: a few per table, where a list is cheaper than a Set (a start reads 10,000 `[[cert]]` tables). */
  private readonly seen: string[] = [];
  private keyPath: string | undefined;

  /**
   * `prefix` is the table's key path (`cluster`, `install[1]`); with `index`, the table is
   * item `index` of the array of tables at `prefix`, and its path (`cert[9999]`) is made
   * only when asked for: most of the 10,000 `[[cert]]` tables of a start never need it.
   */
  constructor(
    private readonly table: Table,
    private readonly at: string,
    readonly ctx: ReaderContext,
    private readonly index?: number,
  ) {}

  /** The table's key path: `cert[0]`, `daemon`; "" for the whole document. */
  get prefix(): string {
    return (this.keyPath ??= this.index === undefined ? this.at : `${this.at}[${this.index}]`);
  }

  key(k: string): string {
    return this.prefix ? `${this.prefix}.${k}` : k;
  }

  problem(k: string, message: string): void {
    this.ctx.problems.add(this.key(k), message);
  }

  warn(k: string, message: string): void {
    this.ctx.problems.warn(this.key(k), message);
  }

  has(k: string): boolean {
    return this.table[k] !== undefined;
  }

  /** The table's keys, for a table whose keys are the user's own names (`headers = { … }`). */
  keys(): string[] {
    return Object.keys(this.table);
  }

  private raw(k: string): unknown {
    this.seen.push(k);
    return this.table[k];
  }

  string(k: string, opts: StringOpts & { required: true }): string;
  string(k: string, opts?: StringOpts & { required?: false }): string | undefined;
  string(k: string, opts: StringOpts & { required?: boolean } = NO_OPTS): string | undefined {
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
      this.problem(k, `${quote(v)} ${opts.patternHint ?? `must match ${opts.pattern}`}`);
      return undefined;
    }
    if (opts.maxLength !== undefined && v.length > opts.maxLength) {
      this.problem(k, `must be at most ${opts.maxLength} characters`);
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(k: string, values: readonly T[], fallback: T): T {
    const v = this.string(k);
    if (v === undefined) return fallback;
    if (!(values as readonly string[]).includes(v)) {
      this.problem(k, `${quote(v)} is not one of ${values.join(", ")}`);
      return fallback;
    }
    return v as T;
  }

  bool(k: string, fallback: boolean): boolean {
    const v = this.raw(k);
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") {
      this.problem(k, `must be true or false, not ${typeName(v)}`);
      return fallback;
    }
    return v;
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

  /**
   * A list of strings, or with `oneOrList` also one string standing for a list of one
   * (`install = "files"`). A malformed item is reported at its own index and left out;
   * the others keep theirs, so callers can check every good item too.
   */
  stringList(k: string, opts: { oneOrList?: boolean } = NO_OPTS): StringList | undefined {
    const v = this.raw(k);
    if (v === undefined) return undefined;
    if (opts.oneOrList && typeof v === "string") {
      if (v.trim() !== "") return { items: [new ListItem(v, this, k, -1)], complete: true };
      this.problem(k, "must not be empty");
      return { items: [], complete: false };
    }
    if (!Array.isArray(v)) {
      this.problem(k, `must be ${opts.oneOrList ? "a string or " : ""}a list of strings, not ${typeName(v)}`);
      return undefined;
    }
    const items: ListItem[] = [];
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i];
      if (typeof item !== "string" || item.trim() === "") this.ctx.problems.add(`${this.key(k)}[${i}]`, "must be a non-empty string");
      else items.push(new ListItem(item, this, k, i));
    }
    return { items, complete: items.length === v.length };
  }

  /**
   * A filesystem path, resolved against the config folder. `mustRead`: a file (or with
   * `dir`, a folder) that exists and is readable now. `ifExists`: what the daemon will
   * create there, so anything else already at the path is a problem.
   */
  path(k: string, opts: PathOpts & { required: true }): string;
  path(k: string, opts?: PathOpts & { required?: false }): string | undefined;
  path(k: string, opts: PathOpts & { required?: boolean } = NO_OPTS): string | undefined {
    const v = opts.required ? this.string(k, { required: true }) : this.string(k);
    if (v === undefined) return undefined;
    const p = isAbsolute(v) ? v : resolve(this.ctx.baseDir, v);
    const bytes = Buffer.byteLength(p);
    if (bytes > PATH_MAX) {
      this.problem(k, `path is ${bytes} bytes; Linux allows at most ${PATH_MAX}`);
      return undefined;
    }
    const report = (m: string) => this.problem(k, m);
    if (opts.mustRead) checkReadable(p, opts.dir ?? false, report);
    if (opts.ifExists) checkExisting(p, opts.ifExists, report);
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
      if (path === undefined) return undefined;
      // Every secret rota reads is trimmed, and none works empty: a blank file fails every use, so it fails here.
      if (isBlankFile(path)) {
        this.problem(fileKey, `${path} is empty`);
        return undefined;
      }
      return { from: "file", path };
    }
    if (this.has(envKey)) {
      const name = this.string(envKey);
      if (name === undefined) return undefined;
      if (!this.ctx.env[name]) {
        if (this.ctx.unsetEnvWarns) {
          this.warn(envKey, `environment variable ${cut(name)} is not set here; the service's environment must set it`);
          return { from: "env", name };
        }
        this.problem(envKey, `environment variable ${cut(name)} is not set`);
        return undefined;
      }
      return { from: "env", name };
    }
    if (opts.required) this.problem(fileKey, `is required (or ${envKey})`);
    return undefined;
  }

  /** The sub-table at `k` (an empty one when absent), read through its own Reader. */
  child(k: string): Reader {
    const v = this.raw(k);
    if (v !== undefined && !isTable(v)) this.problem(k, "must be a table");
    return new Reader(isTable(v) ? v : {}, this.key(k), this.ctx);
  }

  /**
   * Visits each table of the array of tables `[[k]]` with a reader at `k[i]`. Returns how
   * many entries the array holds: 0 when absent, undefined when `k` is not an array.
   */
  each(k: string, visit: (r: Reader) => void): number | undefined {
    const v = this.tables(k);
    if (v === undefined) return 0;
    if (!Array.isArray(v)) return undefined;
    for (let i = 0; i < v.length; i++) this.eachItem(k, v, i, visit);
    return v.length;
  }

  /** `each` a part at a time: the value at `k`, marked read; what is not an array is reported, undefined when absent. */
  tables(k: string): unknown {
    const v = this.raw(k);
    if (v !== undefined && !Array.isArray(v)) this.problem(k, `must be an array of tables ([[${k}]])`);
    return v;
  }

  /** `each`'s visit of item `i` of `items`, the array `tables(k)` gave. */
  eachItem(k: string, items: unknown[], i: number, visit: (r: Reader) => void): void {
    const item: unknown = items[i];
    if (isTable(item)) visit(new Reader(item, this.key(k), this.ctx, i));
    else this.ctx.problems.add(`${this.key(k)}[${i}]`, "must be a table");
  }

  /** Marks `k` read without reading it: its problem, if any, was reported another way. */
  skip(k: string): void {
    this.seen.push(k);
  }

  /** Marks every key read, so a section whose type is unknown reports only that. */
  skipRest(): void {
    this.seen.push(...Object.keys(this.table));
  }

  /** Reports every key of the table that no reader asked for. */
  finish(): void {
    for (const k of Object.keys(this.table)) {
      if (!this.seen.includes(k)) this.problem(cut(k), "unknown key");
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

/** Blank secrets are short: a file longer than this is not looked into. */
const BLANK_CHECK_BYTES = 4096;

/** Whether a readable file holds nothing but whitespace; false when it cannot be read (reported apart). */
function isBlankFile(p: string): boolean {
  try {
    const st = statSync(p);
    if (!st.isFile() || st.size > BLANK_CHECK_BYTES) return false;
    return readFileSync(p, "utf8").trim() === "";
  } catch {
    return false;
  }
}

/**
 * Reports a path the daemon would fail to create or use: something other than `kind`
 * already there, or a parent that is not a folder. A socket is looked at with lstat, as
 * the daemon does before it replaces a stale one.
 */
function checkExisting(p: string, kind: PathKind, report: (m: string) => void): void {
  let st: Stats;
  try {
    st = kind === "socket" ? lstatSync(p) : statSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") {
      const parent = nearestExisting(dirname(p));
      if (parent !== undefined) report(`${parent} is not a directory`);
    }
    return;
  }
  const ok = kind === "file" ? st.isFile() : kind === "directory" ? st.isDirectory() : st.isSocket();
  if (!ok) report(`${p} exists and is not a ${kind}`);
}
