/**
 * @module Reads back a filesystem target's set `<dir>/<cert id>/{privkey,cert,chain,fullchain}.pem`
 * (and the files a target type makes of it, `ExtraFile`) and judges it whole: a set nginx
 * would refuse at its next reload is `damaged`, with the first problem found as the reason.
 * Async fs only, so a hung mount never blocks the event loop; the verdict is cached per cert
 * by the files' lstat identity, so an unchanged set costs five lstat calls (the folder's,
 * then its four files' together, and each extra file's with them), and none in a sweep
 * while the folder's change hints (change-hints.ts) say nothing under it changed since those
 * calls. The cache keeps the
 * verdict, not the leaf: a caller holding the leaf of the set's stamp (`known`) is answered
 * `unchanged`; any other is given the leaf, the set read and judged again.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { constants, type BigIntStats } from "node:fs";
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { systemClock, type Clock } from "../../../clock.ts";
import { splitPem } from "../../../crypto/x509.ts";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import type { HintedInstall, ReadBack, ReadBackOptions } from "../../types.ts";
import { folderHints, type ChangeHints, type ChangeLog } from "./change-hints.ts";
import type { FilesystemConfig } from "./config.ts";

/** The files install writes, with the mode it gives each. */
export const SET_FILES = [
  { file: "privkey.pem", mode: 0o600 },
  { file: "cert.pem", mode: 0o644 },
  { file: "chain.pem", mode: 0o644 },
  { file: "fullchain.pem", mode: 0o644 },
] as const;

/** The texts of a set's key, leaf and chain, each ending in a newline as install writes them. */
export interface SetTexts {
  key: string;
  leaf: string;
  chain: string;
}

/**
 * A file a target type writes beside the set, made of the set's own texts (nginx's
 * `combined.pem`): written in the same swap as the set, and read back with it. Its lstat
 * identity is part of the set's, so the verdict cache and the stamp see it change; missing,
 * or holding anything but `data` of the set beside it, the set is `damaged`.
 */
export interface ExtraFile {
  file: string;
  mode: number;
  /** What the file holds for the set `texts`. */
  data(texts: SetTexts): string;
  /** What `data` is, in the words of a damage reason ("privkey.pem followed by fullchain.pem"). */
  holds: string;
}

interface FileSpec {
  file: string;
  mode: number;
}

/** Far above any certificate bundle or key; a bigger file is not one rota wrote. */
const MAX_FILE_BYTES = 1 << 20;

/**
 * However quiet the hints, a sweep reads each set from the disk at least this often: a
 * backstop for changes a watch cannot see (a bind mount over a cert folder, a lower layer
 * edited under an overlay). Each cert at its own moment of the period, so the reads spread
 * over the sweeps instead of landing on one.
 */
export const VERIFY_EVERY_MS = 6 * 3600_000;

export type SetReader = (certId: string, signal: AbortSignal, opts?: ReadBackOptions) => Promise<ReadBack>;

/** A `SetReader` whose verdict cache can be copied (`CompactableInstall.compact`). */
export type CompactSetReader = SetReader & { compact(): void };

interface Cached {
  /** The files' lstat identity (`identityHash`), which is also the stamp of a present set's answer. */
  identity: string;
  /** Why the set is damaged, or null when it was judged whole. */
  damaged: string | null;
  /** The hints' mark taken before the lstat calls the verdict rests on; null when there were no hints. */
  mark: number | null;
  /** When a sweep reads the disk again, hints or not (ms since the epoch). */
  verifyBy: number;
}

export interface SetReaderDeps {
  clock?: Clock;
  /** The folder's change hints; a test passes its own. */
  hints?: ChangeHints;
}

/**
 * A read-back over `cfg`, its errors starting with `who` ("filesystem files"), with its own
 * verdict cache; `extras` are judged as part of each set.
 */
export function createSetReader(who: string, cfg: FilesystemConfig, deps: SetReaderDeps = {}, extras: readonly ExtraFile[] = []): CompactSetReader {
  const files: readonly FileSpec[] = [...SET_FILES, ...extras];
  const cache = new Map<string, Cached>();
  /** Certs whose entry was made since the last `compact()`. */
  const made = new Set<string>();
  const clock = deps.clock ?? systemClock;
  const hints = deps.hints ?? folderHints(cfg.dir);
  const keep = (certId: string, entry: Cached) => {
    cache.set(certId, entry);
    made.add(certId);
  };
  // A structured clone copies the identity's string too, which was made amid the same garbage.
  const compact = () => {
    for (const certId of made) {
      const entry = cache.get(certId);
      if (entry) cache.set(certId, structuredClone(entry));
    }
    made.clear();
  };

  const read: SetReader = async (certId, signal, opts) => {
    throwIfAborted(signal, who);
    const cached = cache.get(certId);
    const fromCache = cached && answerFrom(cached, opts?.known);
    if (fromCache && opts?.sweep && cached.mark != null && clock.now().getTime() < cached.verifyBy && (await hints.fence(opts.sweep)) && hints.unchangedSince(certId, cached.mark)) {
      throwIfAborted(signal, who);
      return fromCache;
    }
    // Taken before the lstat calls: a change during them counts as one after them.
    const mark = hints.mark();
    const dir = join(cfg.dir, certId);
    const dirStat = await lstatOrNull(dir, who);
    if (!dirStat) return { state: "absent" };
    if (dirStat.isSymbolicLink()) return { state: "damaged", reason: `${certId} is a symlink` };
    if (!dirStat.isDirectory()) return { state: "damaged", reason: `${certId} is not a folder` };
    // Judged at every read from the disk, never from the cache: the files' identity leaves the folder out.
    const folderDamage = folderDamageOf(certId, dirStat, cfg);
    if (folderDamage) return { state: "damaged", reason: folderDamage };

    throwIfAborted(signal, who);
    const found = await allInOrder(files.map(({ file }) => lstatOrNull(join(dir, file), who)));
    const stats = new Map<string, BigIntStats | null>(files.map(({ file }, i) => [file, found[i]!]));
    if ([...stats.values()].every((s) => s === null)) return { state: "absent" };

    const identity = identityHash(files, stats);
    const verifyBy = nextVerify(certId, clock.now().getTime());
    if (fromCache && cached.identity === identity) {
      keep(certId, { ...cached, mark, verifyBy });
      return fromCache;
    }
    const verdict = await judge(dir, files, extras, stats, cfg, who, signal, identity);
    keep(certId, { identity, damaged: verdict.state === "damaged" ? verdict.reason : null, mark, verifyBy });
    return verdict;
  };
  return Object.assign(read, { compact });
}

/**
 * What a sweep asks before reading any set (`HintedInstall`): the sets changed since its last
 * question, from the folder's watch, and when each set is read from the disk whatever the
 * watch says (the same moment at which the reader above stops answering from its cache).
 */
export function createSetHints(cfg: FilesystemConfig, log: ChangeLog = folderHints(cfg.dir)): Pick<HintedInstall, "changesSince" | "recheckAt"> {
  return {
    changesSince: (sweep, since, changed) => log.changesSince(sweep, since, changed),
    recheckAt: (certId, now) => new Date(nextVerify(certId, now.getTime())),
  };
}

/** The answer the cache alone gives, were the set still as cached: null when the caller needs the leaf, which it does not keep. */
function answerFrom(cached: Cached, known: string | undefined): ReadBack | null {
  if (cached.damaged !== null) return { state: "damaged", reason: cached.damaged };
  return known === cached.identity ? { state: "unchanged", stamp: cached.identity } : null;
}

/** The end of the cert's current slot of VERIFY_EVERY_MS: the same phase for one id in every period. */
function nextVerify(certId: string, now: number): number {
  const phase = (Number(Bun.hash.crc32(certId)) % 3600) * (VERIFY_EVERY_MS / 3600);
  return Math.floor((now + phase) / VERIFY_EVERY_MS) * VERIFY_EVERY_MS + VERIFY_EVERY_MS - phase;
}

/**
 * The set's files' identity as a stamp: a 64-bit hash of each file's `identityOf`. The text
 * itself is some 250 characters, and every cert keeps its stamp twice (here and in the
 * scheduler's parse): 5 MiB at 10,000 certs, a sixth of the idle daemon's heap (issue 11). A
 * change goes unseen only if the new identity hashes as the old one did, one chance in 2^64.
 */
function identityHash(files: readonly FileSpec[], stats: Map<string, BigIntStats | null>): string {
  return Bun.hash.wyhash(files.map(({ file }) => identityOf(stats.get(file) ?? null)).join("|")).toString(36);
}

/** What changes when anyone writes, replaces, chmods or chowns the file. */
function identityOf(s: BigIntStats | null): string {
  return s ? `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.mode}:${s.uid}:${s.gid}` : "-";
}

async function judge(
  dir: string,
  files: readonly FileSpec[],
  extras: readonly ExtraFile[],
  stats: Map<string, BigIntStats | null>,
  cfg: FilesystemConfig,
  who: string,
  signal: AbortSignal,
  stamp: string,
): Promise<ReadBack> {
  const damaged = (reason: string): ReadBack => ({ state: "damaged", reason });
  for (const { file, mode } of files) {
    const s = stats.get(file) ?? null;
    if (!s) return damaged(`${file} is missing`);
    if (s.isSymbolicLink()) return damaged(`${file} is a symlink`);
    if (!s.isFile()) return damaged(`${file} is not a regular file`);
    if (s.size === 0n) return damaged(`${file} is empty`);
    if (s.size > MAX_FILE_BYTES) return damaged(`${file} is larger than 1 MiB`);
    const actual = Number(s.mode & 0o777n);
    if (actual !== mode) return damaged(`${file} has mode ${octal(actual)}, expected ${octal(mode)}`);
    const uid = expectedUid(cfg);
    if (uid !== undefined && Number(s.uid) !== uid) return damaged(`${file} is owned by uid ${s.uid}, expected ${uid}`);
    if (cfg.gid !== undefined && Number(s.gid) !== cfg.gid) return damaged(`${file} has group gid ${s.gid}, expected ${cfg.gid}`);
  }

  throwIfAborted(signal, who);
  const read = await allInOrder(files.map(({ file }) => readNoFollow(join(dir, file), who, signal)));
  const text = new Map<string, string>(files.map(({ file }, i) => [file, read[i]!]));
  const certBlocks = splitPem(text.get("cert.pem")!);
  if (certBlocks.length !== 1) return damaged(`cert.pem holds ${certBlocks.length} certificates, expected 1`);
  const leaf = parse(certBlocks[0]!);
  if (!leaf) return damaged("cert.pem cannot be parsed");

  let key;
  try {
    key = createPrivateKey(text.get("privkey.pem")!);
  } catch {
    // The parser's message may quote the file: it is the private key, so none of it goes into the reason.
    return damaged("privkey.pem cannot be parsed as a private key");
  }
  if (!safely(() => leaf.checkPrivateKey(key))) return damaged("privkey.pem does not match the certificate in cert.pem");

  const chainBlocks = splitPem(text.get("chain.pem")!);
  if (chainBlocks.length === 0) return damaged("chain.pem holds no certificate");
  const issuer = parse(chainBlocks[0]!);
  if (!issuer) return damaged("chain.pem cannot be parsed");
  if (!safely(() => leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey))) return damaged("chain.pem does not issue the certificate in cert.pem");

  const full = splitPem(text.get("fullchain.pem")!);
  const expected = [...certBlocks, ...chainBlocks];
  if (full.length !== expected.length || full.some((b, i) => b !== expected[i])) return damaged("fullchain.pem is not cert.pem followed by chain.pem");
  const texts = { key: text.get("privkey.pem")!, leaf: text.get("cert.pem")!, chain: text.get("chain.pem")! };
  // Compared whole, never quoted: it holds the private key.
  for (const extra of extras) if (text.get(extra.file) !== extra.data(texts)) return damaged(`${extra.file} is not ${extra.holds}`);

  throwIfAborted(signal, who);
  return { state: "present", leafPem: text.get("cert.pem")!, stamp };
}

/**
 * Who must own the set and its folder: `owner` when set, else the daemon itself, which
 * wrote them (issue 5: a key handed to another user, who can then read it, is damage).
 */
export function expectedUid(cfg: FilesystemConfig): number | undefined {
  return cfg.uid ?? process.getuid?.();
}

/**
 * Why `<dir>/<cert id>` itself is damaged, or null: writable by group or others (anyone
 * could swap the key or certificate the webserver reads; issue 2 says 0755), or owned by
 * someone else than `expectedUid`, or not in the configured group.
 */
function folderDamageOf(certId: string, s: BigIntStats, cfg: FilesystemConfig): string | null {
  const mode = Number(s.mode & 0o777n);
  if ((mode & 0o022) !== 0) return `${certId} folder has mode ${octal(mode)}, writable by ${(mode & 0o002) !== 0 ? "others" : "its group"}`;
  const uid = expectedUid(cfg);
  if (uid !== undefined && Number(s.uid) !== uid) return `${certId} folder is owned by uid ${s.uid}, expected ${uid}`;
  if (cfg.gid !== undefined && Number(s.gid) !== cfg.gid) return `${certId} folder has group gid ${s.gid}, expected ${cfg.gid}`;
  return null;
}

async function lstatOrNull(path: string, who: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new RotaError("read_failed", `${who}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Each call's result, once all have settled; else the first failure in the calls' order,
 * whichever came first in time. A set's four files' lstat calls, or their reads, go to the thread
 * pool together: in Bun that costs under half the CPU of one after another (issue 11).
 */
async function allInOrder<T>(calls: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(calls);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * The file's text; O_NOFOLLOW so a link swapped in after the lstat is not read through. One
 * call, not open, read and close: each is a trip to the thread pool.
 */
async function readNoFollow(path: string, who: string, signal: AbortSignal): Promise<string> {
  try {
    return await readFile(path, { encoding: "utf8", flag: constants.O_RDONLY | constants.O_NOFOLLOW, signal });
  } catch (err) {
    if (signal.aborted) throwIfAborted(signal, who);
    throw new RotaError("read_failed", `${who}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parse(pem: string): X509Certificate | null {
  try {
    return new X509Certificate(pem);
  } catch {
    return null;
  }
}

function safely(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}
