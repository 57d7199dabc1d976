/**
 * @module The daemon's cache of its config file's parsed TOML document, kept as JSON in the
 * state folder: at 10,000 certs smol-toml takes 70 to 130 ms of a start to parse the 1-MB file
 * and `JSON.parse` of the same document 15 to 20 ms (issue 11). A parse is a function of the
 * file's bytes alone, so the cache is keyed by a SHA-256 of those bytes and of the build that
 * wrote it; validation runs on the document as it would on a fresh parse, with its file and
 * environment checks made anew. Anything amiss (another key, a damaged or truncated file, one
 * someone else could have written) reads as no cache: the TOML is parsed as it always was.
 *
 * Where: the state folder is itself in the config, so before the parse it is guessed by a scan
 * of the bytes for `state_dir` in `[daemon]` (else the default), and a document found there is
 * used only when validating it names that same folder, the daemon's own (mode 0700, made by
 * the start). A wrong guess costs a parse; it can never make a document come from elsewhere.
 *
 * What goes in: the document's values, never a secret's (a secret is given as a file or an
 * environment variable, which validation reads; an inline secret is refused, and only a
 * document that validated is kept). Only documents JSON gives back as they were are kept:
 * strings, booleans, finite numbers other than -0, arrays and tables; a TOML date, an
 * infinity, a NaN or a key that `Object.prototype` has makes the document go uncached.
 * JSON's tables come back with `Object.prototype` where smol-toml's have none: validation
 * reads its own key names only, none of them a prototype's property (the last rule keeps
 * every key of the document clear of them too).
 */
import { closeSync, fstatSync, openSync, readSync, rmSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { writeFileAtomic } from "../fsutil.ts";
import { DEFAULT_STATE_DIR } from "./schema.ts";

/** The cache's file name in the state folder. */
export const PARSE_CACHE_FILE = "config-parse.json";
/** Bumped when what the cache holds or how it is written changes. */
const FORMAT = "rota-config-parse 1";
/** A cache is about the size of the config it stands for, which is at most 16 MiB. */
const MAX_CACHE_BYTES = 32 * 1024 * 1024;

/** Where a cache was looked for, and what it held for these bytes. */
export interface CacheLookup {
  /** The state folder guessed from the bytes, resolved; the cache's folder. */
  dir: string;
  /** SHA-256 (hex) of the format, the build's tag and the config's bytes. */
  key: string;
  /** The parsed document, when the cache held one for exactly these bytes. */
  doc?: Record<string, unknown>;
}

/**
 * The cache for the config file `file` whose bytes are `bytes`, written by a build tagged
 * `tag` (its version and commit: another build may parse differently). Never throws.
 */
export function lookupParse(bytes: Uint8Array, file: string, tag: string): CacheLookup {
  const dir = guessStateDir(bytes, file);
  const key = new Bun.CryptoHasher("sha256").update(`${FORMAT}\n${tag}\n`).update(bytes).digest("hex");
  const doc = readCache(join(dir, PARSE_CACHE_FILE), key);
  return doc === undefined ? { dir, key } : { dir, key, doc };
}

/**
 * Keeps `doc` as the parse of the bytes `lookup` was made for, in `lookup.dir` (the validated
 * state folder, which exists once the daemon has started). A document JSON would change is
 * not kept, and an older cache is removed so it is not read again in vain.
 */
export function rememberParse(lookup: CacheLookup, doc: Record<string, unknown>): void {
  const path = join(lookup.dir, PARSE_CACHE_FILE);
  if (!jsonKeeps(doc)) {
    rmSync(path, { force: true });
    return;
  }
  const body = Buffer.from(JSON.stringify(doc));
  const sum = new Bun.CryptoHasher("sha256").update(body).digest("hex");
  writeFileAtomic(path, Buffer.concat([Buffer.from(`${FORMAT} ${lookup.key} ${sum}\n`), body]), { mode: 0o600 });
}

/** The document in the cache file at `path` when its key is `key` and its body is whole; else undefined. */
function readCache(path: string, key: string): Record<string, unknown> | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    // Only a file this daemon's user wrote and no one else may change.
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0 || st.size > MAX_CACHE_BYTES) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) return undefined;
      n += got;
    }
    const eol = buf.indexOf(0x0a);
    if (eol < 0) return undefined;
    const [format, version, cachedKey, sum] = buf.toString("latin1", 0, eol).split(" ");
    if (`${format} ${version}` !== FORMAT || cachedKey !== key) return undefined;
    const body = buf.subarray(eol + 1);
    if (new Bun.CryptoHasher("sha256").update(body).digest("hex") !== sum) return undefined;
    const doc: unknown = JSON.parse(body.toString("utf8"));
    return typeof doc === "object" && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const DAEMON_HEADER = Buffer.from("[daemon]");
const STATE_DIR_LINE = /^[ \t]*state_dir[ \t]*=[ \t]*(?:"([^"\\\n]*)"|'([^'\n]*)')[ \t]*(?:#.*)?\r?$/m;

/**
 * The state folder the bytes most likely name: `state_dir = "…"` (or `'…'`) under the first
 * `[daemon]` header, resolved against the config's folder as validation resolves it; the
 * default when there is none. Only a guess (a header inside a multi-line string, a dotted
 * key or an inline table fool it): `lookupParse`'s caller compares it with what validates.
 */
export function guessStateDir(bytes: Uint8Array, file: string): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = -1;
  for (let from = 0; ; from = at + DAEMON_HEADER.length) {
    at = buf.indexOf(DAEMON_HEADER, from);
    if (at < 0) return DEFAULT_STATE_DIR;
    if (at === 0 || buf[at - 1] === 0x0a) break;
  }
  const start = at + DAEMON_HEADER.length;
  const next = buf.indexOf("\n[", start);
  const table = buf.toString("utf8", start, next < 0 ? buf.length : next);
  const m = STATE_DIR_LINE.exec(table);
  const written = m?.[1] ?? m?.[2];
  if (written === undefined || written.trim() === "") return DEFAULT_STATE_DIR;
  return isAbsolute(written) ? written : resolve(dirname(file), written);
}

/** Whether `JSON.parse(JSON.stringify(v))` gives back a value validation reads exactly as `v`. */
export function jsonKeeps(v: unknown): boolean {
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0);
    case "object": {
      if (v === null) return false;
      if (Array.isArray(v)) return v.every(jsonKeeps);
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== null && proto !== Object.prototype) return false;
      for (const k of Object.keys(v)) {
        if (k in Object.prototype || !jsonKeeps((v as Record<string, unknown>)[k])) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
