/**
 * @module The daemon's cache of its config file's parsed TOML document, kept as JSON in the
 * state folder: at 10,000 certs smol-toml takes 70 to 130 ms of a start to parse the 1-MB file
 * and `JSON.parse` of the same document 15 to 20 ms (issue 11). A parse is a function of the
 * file's bytes alone, so the cache is keyed by a SHA-256 of those bytes and of the build that
 * wrote it; validation runs on the document as it would on a fresh parse, with its file and
 * environment checks made anew. Anything amiss (another key, a damaged or truncated file, one
 * someone else could have written) reads as no cache: the TOML is parsed as it always was.
 *
 * The document is kept in two parts (`CachedParse`): the `[[cert]]` tables apart, in lines of
 * 500, so a start on a cache hit can validate the rest, listen, and read the certs after, a
 * line at a time between answers (src/config/early.ts).
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
import { closeSync, fstatSync, openSync, readSync, rmSync, type Stats } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { writeFileAtomic } from "../fsutil.ts";
import { DEFAULT_STATE_DIR } from "./schema.ts";

/** The cache's file name in the state folder. */
export const PARSE_CACHE_FILE = "config-parse.json";
/** Bumped when what the cache holds or how it is written changes. */
const FORMAT = "rota-config-parse 2";
/** A cache is about the size of the config it stands for, which is at most 16 MiB. */
const MAX_CACHE_BYTES = 32 * 1024 * 1024;
/** `[[cert]]` tables per line of the cache: each line's `JSON.parse` is 1 to 2 ms at a start. */
const CERTS_PER_LINE = 500;

/**
 * A cache found for exactly these bytes and this build. The document is kept in two parts,
 * each under its own SHA-256: `head`, every key but `cert` (a few small tables, checked and
 * parsed at once), and the `[[cert]]` tables as lines of JSON arrays, checked and parsed only
 * when asked for, so a start can listen before it reads 10,000 of them (issue 11).
 */
export interface CachedParse {
  /** The document without its `cert` key, when the document's `cert` is an array of tables; else the whole document. */
  head: Record<string, unknown>;
  /**
   * The `[[cert]]` tables as lines of JSON text, each an array: undefined when that part is
   * damaged (then the TOML must be parsed), an empty list when the document has no `cert` array.
   */
  certLines(): Buffer[] | undefined;
  /** Whether `head` left a `cert` array out, to be put back from `certLines`. */
  split: boolean;
}

/** Where a cache was looked for, and what it held for these bytes. */
export interface CacheLookup {
  /** The state folder guessed from the bytes, resolved; the cache's folder. */
  dir: string;
  /** SHA-256 (hex) of the format, the build's tag and the config's bytes. */
  key: string;
  /** The parse, when the cache held one for exactly these bytes. */
  hit?: CachedParse;
}

/**
 * The cache for the config file `file` whose bytes are `bytes`, written by a build tagged
 * `tag` (its version and commit: another build may parse differently). Never throws.
 */
export function lookupParse(bytes: Uint8Array, file: string, tag: string): CacheLookup {
  const dir = guessStateDir(bytes, file);
  const key = sha256(new Bun.CryptoHasher("sha256").update(`${FORMAT}\n${tag}\n`).update(bytes));
  const hit = readCache(join(dir, PARSE_CACHE_FILE), key);
  return hit === undefined ? { dir, key } : { dir, key, hit };
}

/** The whole document of a cache hit, or undefined when its cert part is damaged. */
export function wholeDoc(hit: CachedParse): Record<string, unknown> | undefined {
  if (!hit.split) return hit.head;
  const lines = hit.certLines();
  if (!lines) return undefined;
  const certs: unknown[] = [];
  for (const line of lines) {
    const part = parseCertLine(line);
    if (!part) return undefined;
    for (const t of part) certs.push(t);
  }
  return withCerts(hit.head, certs);
}

/** One line of the cert part: an array of tables, else undefined. */
export function parseCertLine(line: Buffer): unknown[] | undefined {
  try {
    const v: unknown = JSON.parse(line.toString("utf8"));
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `head` with the `cert` tables put back (last: validation reads keys by name, so their order changes nothing). */
export function withCerts(head: Record<string, unknown>, certs: unknown[]): Record<string, unknown> {
  return { ...head, cert: certs };
}

/**
 * Keeps `doc` as the parse of the bytes `lookup` was made for, in `lookup.dir` (the validated
 * state folder, which exists once the daemon has started). A document JSON would change is
 * not kept, and an older cache is removed so it is not read again in vain.
 */
export function rememberParse(lookup: Pick<CacheLookup, "dir" | "key">, doc: Record<string, unknown>): void {
  const path = join(lookup.dir, PARSE_CACHE_FILE);
  if (!jsonKeeps(doc)) {
    rmSync(path, { force: true });
    return;
  }
  const certs = doc.cert;
  const split = Array.isArray(certs);
  const rest = split ? Object.fromEntries(Object.entries(doc).filter(([k]) => k !== "cert")) : doc;
  const head = Buffer.from(`${JSON.stringify(rest)}\n`);
  const lines: string[] = [];
  if (split) for (let i = 0; i < certs.length; i += CERTS_PER_LINE) lines.push(`${JSON.stringify(certs.slice(i, i + CERTS_PER_LINE))}\n`);
  const tail = Buffer.from(lines.join(""));
  const header = `${FORMAT} ${lookup.key} ${sha256(new Bun.CryptoHasher("sha256").update(head))} ${sha256(new Bun.CryptoHasher("sha256").update(tail))} ${split ? "split" : "whole"}\n`;
  writeFileAtomic(path, Buffer.concat([Buffer.from(header), head, tail]), { mode: 0o600 });
}

function sha256(h: Bun.CryptoHasher): string {
  return h.digest("hex");
}

/** What `readCache` reads at first: the header and the head of a usual cache, not its cert part. */
const FIRST_READ = 64 * 1024;

/**
 * The parse in the cache file at `path` when its key is `key` and its head is whole; else
 * undefined. Only the header and the head are read here; the cert part is read when asked for.
 */
function readCache(path: string, key: string): CachedParse | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    // Only a file this daemon's user wrote and no one else may change.
    if (!ownCache(st)) return undefined;
    let buf = readAt(fd, 0, Math.min(st.size, FIRST_READ));
    const eol = buf?.indexOf(0x0a) ?? -1;
    if (!buf || eol < 0) return undefined;
    const [format, version, cachedKey, headSum, tailSum, how] = buf.toString("latin1", 0, eol).split(" ");
    if (`${format} ${version}` !== FORMAT || cachedKey !== key || (how !== "split" && how !== "whole")) return undefined;
    let headEnd = buf.indexOf(0x0a, eol + 1);
    // A head longer than the first read (many sections): read on to its end.
    if (headEnd < 0 && buf.length < st.size) {
      buf = readAt(fd, 0, st.size);
      headEnd = buf?.indexOf(0x0a, eol + 1) ?? -1;
    }
    if (!buf || headEnd < 0) return undefined;
    const headBytes = buf.subarray(eol + 1, headEnd + 1);
    if (sha256(new Bun.CryptoHasher("sha256").update(headBytes)) !== headSum) return undefined;
    const head: unknown = JSON.parse(headBytes.toString("utf8"));
    if (typeof head !== "object" || head === null || Array.isArray(head)) return undefined;
    const tail = { path, ino: st.ino, size: st.size, at: headEnd + 1, sum: tailSum! };
    return { head: head as Record<string, unknown>, split: how === "split", certLines: () => certLinesOf(tail) };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function ownCache(st: Stats): boolean {
  return st.isFile() && st.uid === process.geteuid?.() && (st.mode & 0o022) === 0 && st.size <= MAX_CACHE_BYTES;
}

/** `length` bytes of `fd` from `at`; undefined when the file ends before. */
function readAt(fd: number, at: number, length: number): Buffer | undefined {
  const buf = Buffer.allocUnsafe(length);
  let n = 0;
  while (n < length) {
    const got = readSync(fd, buf, n, length - n, at + n);
    if (got === 0) return undefined;
    n += got;
  }
  return buf;
}

/** The cert part's lines, when the file is still the one whose head was read and that part is whole. Never throws. */
function certLinesOf(tail: { path: string; ino: number; size: number; at: number; sum: string }): Buffer[] | undefined {
  let fd: number;
  try {
    fd = openSync(tail.path, "r");
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!ownCache(st) || st.ino !== tail.ino || st.size !== tail.size) return undefined;
    const bytes = readAt(fd, tail.at, tail.size - tail.at);
    if (!bytes || sha256(new Bun.CryptoHasher("sha256").update(bytes)) !== tail.sum) return undefined;
    const lines: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const eol = bytes.indexOf(0x0a, at);
      if (eol < 0) return undefined;
      lines.push(bytes.subarray(at, eol));
      at = eol + 1;
    }
    return lines;
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
