/**
 * @module Change hints for a folder of cert sets (`<dir>/<cert id>/…`): one recursive
 * `fs.watch` (inotify) per folder and process says which cert ids had anything under their
 * folder changed since a mark, so a sweep over thousands of sets need not lstat the ones
 * nothing touched (five calls per set, ~2 s of CPU per tick at 10,000 sets; issue 11).
 *
 * Only on a local filesystem, where the kernel raises an event for every change to it;
 * on NFS, SMB or FUSE another host's writes raise none, so those folders are always read.
 * A fence makes the hints exact for a sweep: it writes a file of its own into the folder and
 * waits for that event; Bun delivers one watcher's events in order, and the watch thread
 * forwards them in that order on one channel, so once it arrives every change made before
 * the fence has been seen. Anything the watch cannot account for (the folder itself renamed,
 * removed or re-permissioned, the watch or its thread failing) drops every hint: the next
 * reads go to the disk, and the watch starts again.
 *
 * The watch runs on a thread of its own (`watch-thread-client.ts`): its start walks every
 * cert folder in one call. Separate per-folder watchers, started in slices on this thread,
 * were measured and rejected: their events are not delivered in order with one another, so a
 * fence could come back before an earlier change's event (bench/README.md, fifth pass).
 */
import { statfs, unlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { systemClock, type Clock } from "../../../clock.ts";
import type { TargetChanges } from "../../types.ts";
import { startOnThread, type StartWatch, type StopWatch } from "./watch-thread-client.ts";

/** What a sweep may trust instead of reading the disk. */
export interface ChangeHints {
  /**
   * A mark to take just before reading a set from the disk: a later `unchangedSince` with it
   * is true only while the watch has seen nothing under that set since. Null when the folder
   * is not watched (yet, or at all).
   */
  mark(): number | null;
  /**
   * Resolves true once every change made in the folder before the first call for `sweep` has
   * been seen, false when the hints cannot be trusted for this sweep (not watched, the fence
   * could not be written or did not come back in time): read the disk. One fence per
   * `sweep` object, shared by all the reads that pass it.
   */
  fence(sweep: object): Promise<boolean>;
  /** Whether nothing under `<dir>/<certId>` changed since `mark`, the watch running all along. */
  unchangedSince(certId: string, mark: number): boolean;
}

/** Which cert ids changed since a mark: what lets a sweep skip the sets nothing touched without asking about each. */
export interface ChangeLog {
  /** `HintedInstall.changesSince` for the folder's sets: fenced by `sweep`, each cert id changed after `since` passed to `changed`. */
  changesSince(sweep: object, since: number | null, changed: (certId: string) => void): Promise<TargetChanges>;
}

/**
 * Filesystems whose changes all raise inotify events on this host (statfs(2) magic numbers):
 * ext2/3/4, XFS, Btrfs, tmpfs, F2FS, ZFS, JFS, ReiserFS, bcachefs. Not overlayfs (a change
 * to a lower layer raises nothing in the merged view), nor network or FUSE filesystems.
 */
const LOCAL_FILESYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0xf2f52010, 0x2fc12fc1, 0x3153464a, 0x52654973, 0xca451a4e]);

/** Names of the fence files; never a cert id (those are validated, and never start with a dot). */
const FENCE_PREFIX = ".rota-fence-";

/** How long a fence may take before the sweep reads the disk instead: a watch that slow is not relied on. */
const FENCE_TIMEOUT_MS = 2000;

/**
 * How long a sweep waits for the watch to start before reading without it: the walk takes
 * a few hundred ms of CPU at 10,000 cert folders, seconds of wall time on a loaded machine;
 * the event loop runs meanwhile.
 */
const START_TIMEOUT_MS = 10_000;

export function isLocalFilesystem(type: number): boolean {
  return LOCAL_FILESYSTEMS.has(type);
}

const byFolder = new Map<string, FolderWatch>();

/**
 * The hints for `dir`, shared by every target on that folder in this process (a reload that
 * rebuilds a target keeps the watch). A watch is only started by a read-back, which only the
 * daemon does: renewal workers, which only install, never watch.
 */
export function folderHints(dir: string): ChangeHints & ChangeLog {
  const key = resolve(dir);
  let hints = byFolder.get(key);
  if (!hints) {
    hints = new FolderWatch(key);
    byFolder.set(key, hints);
  }
  return hints;
}

/**
 * Stops and forgets the watches of every folder but `dirs` (a reload's targets, which have
 * their own instances by then): a target a reload dropped keeps no inotify watches on a
 * folder nobody reads. A dropped target still answering an old sweep reads the disk.
 */
export function keepFolderWatches(dirs: Iterable<string>): void {
  const kept = new Set([...dirs].map((d) => resolve(d)));
  for (const [dir, hints] of byFolder) {
    if (kept.has(dir)) continue;
    hints.retire();
    byFolder.delete(dir);
  }
}

/** `local`: on a local filesystem, not watched; `starting`: the watch's walk under way; `watching`: it runs. */
type State = "unknown" | "checking" | "local" | "starting" | "watching" | "off";

export class FolderWatch implements ChangeHints, ChangeLog {
  private state: State = "unknown";
  private stop: StopWatch | null = null;
  /** Counts what the watch saw; marks are values of it. */
  private seq = 0;
  /** Marks up to this one predate the current watch: nothing since them is known. */
  private lostAt = 0;
  /** Per cert id, the count at its latest change. */
  private readonly changed = new Map<string, number>();
  private readonly fences = new WeakMap<object, Promise<boolean>>();
  private readonly waiting = new Map<string, () => void>();
  private fenceCount = 0;
  /** Settles once the folder's filesystem type is known (or could not be). */
  private checked: Promise<void> = Promise.resolve();
  /** Settles once the watch last asked for runs or failed to start. */
  private started: Promise<void> = Promise.resolve();
  private settleStart = () => {};

  constructor(
    private readonly dir: string,
    private readonly clock: Clock = systemClock,
    /** statfs(2)'s `type` of the folder; a test passes its own. */
    private readonly fsType: (dir: string) => Promise<number> = async (d) => (await statfs(d)).type,
    private readonly startWatch: StartWatch = startOnThread,
  ) {}

  mark(): number | null {
    return this.watching() ? this.seq : null;
  }

  unchangedSince(certId: string, mark: number): boolean {
    return this.state === "watching" && this.lostAt <= mark && (this.changed.get(certId) ?? 0) <= mark;
  }

  /** Resolves once the watch runs, or could not be started (or `START_TIMEOUT_MS` passed): `mark()` then says which. */
  async ready(): Promise<void> {
    if (this.state === "watching" || this.state === "off") return;
    this.watching();
    await this.within(this.checked, FENCE_TIMEOUT_MS);
    this.watching();
    await this.within(this.started, START_TIMEOUT_MS);
  }

  /** Stops the watch; the next question starts it again. */
  close(): void {
    this.lose();
  }

  /** Stops the watch for good: no question starts it again, every answer says to read the disk. */
  retire(): void {
    this.lose();
    this.state = "off";
  }

  fence(sweep: object): Promise<boolean> {
    let done = this.fences.get(sweep);
    if (!done) {
      done = this.watching() ? this.roundTrip() : Promise.resolve(false);
      this.fences.set(sweep, done);
    }
    return done;
  }

  async changesSince(sweep: object, since: number | null, changed: (certId: string) => void): Promise<TargetChanges> {
    // Asked before a sweep's reads, it waits for the folder's type, bounded as a fence is: the
    // first sweep then reads under a watch, and a cert it finds unchanged is not read again.
    await this.ready();
    if (!(await this.fence(sweep)) || this.state !== "watching") return { mark: null, all: true };
    const mark = this.seq;
    if (since === null || this.lostAt > since) return { mark, all: true };
    // One entry per cert folder ever changed while watched: a walk without allocating, against a read per set.
    for (const [certId, at] of this.changed) if (at > since) changed(certId);
    return { mark, all: false };
  }

  /** Whether the watch runs; starts it once the folder is known to be local. Never waits: until then the disk is read. */
  private watching(): boolean {
    if (this.state === "watching") return true;
    if (this.state === "unknown") {
      this.state = "checking";
      // Asked without waiting: statfs on a hung mount must not hold a read.
      // A watch retired meanwhile stays off.
      this.checked = this.fsType(this.dir).then(
        (type) => void (this.state === "checking" && (this.state = isLocalFilesystem(type) ? "local" : "off")),
        () => void (this.state === "checking" && (this.state = "unknown")),
      );
      return false;
    }
    if (this.state !== "local") return false;
    // Walks the tree once, on the watch thread: a one-time cost (~25 µs per cert folder) against every later sweep's lstat calls.
    this.state = "starting";
    let settle = () => {};
    this.started = new Promise<void>((resolve) => (settle = resolve));
    this.settleStart = settle;
    let stop: StopWatch | null = null;
    // Events of a watch this one replaced (lost, then started anew) are not this watch's.
    const current = () => stop !== null && this.stop === stop;
    try {
      stop = this.startWatch(this.dir, {
        started: () => {
          if (!current()) return;
          this.state = "watching";
          this.lostAt = ++this.seq;
          settle();
        },
        changed: (name) => {
          if (current()) this.saw(name);
        },
        failed: (code) => {
          if (!current()) return;
          if (this.state === "watching") return this.lose();
          // A folder not there yet is tried again later; anything else (out of inotify watches,
          // a thread that could not run the watch) for good: the disk is read instead.
          this.stop = null;
          this.state = code === "ENOENT" ? "unknown" : "off";
          settle();
        },
      });
      this.stop = stop;
    } catch {
      this.state = "off";
      settle();
    }
    return false;
  }

  private saw(path: string): void {
    // An event on the folder itself: renamed, removed, its mode changed. What the watch follows may no longer be the folder.
    if (path === "") return this.lose();
    if (path.startsWith(FENCE_PREFIX)) {
      this.waiting.get(path)?.();
      return;
    }
    const slash = path.indexOf("/");
    this.changed.set(slash < 0 ? path : path.slice(0, slash), ++this.seq);
  }

  private lose(): void {
    this.lostAt = ++this.seq;
    this.changed.clear();
    const stop = this.stop;
    this.stop = null;
    stop?.();
    if (this.state === "watching" || this.state === "starting") this.state = "local";
    this.settleStart();
    for (const resolve of this.waiting.values()) resolve();
  }

  /** Waits for `p`, or `ms` at most. */
  private async within(p: Promise<void>, ms: number): Promise<void> {
    let cancel = () => {};
    await Promise.race([p, new Promise<void>((resolve) => (cancel = this.clock.setTimeout(resolve, ms)))]);
    cancel();
  }

  private async roundTrip(): Promise<boolean> {
    const name = `${FENCE_PREFIX}${process.pid}-${++this.fenceCount}`;
    const path = join(this.dir, name);
    let cancel = () => {};
    const seen = new Promise<boolean>((resolve) => {
      this.waiting.set(name, () => resolve(this.state === "watching"));
      cancel = this.clock.setTimeout(() => resolve(false), FENCE_TIMEOUT_MS);
    });
    try {
      await writeFile(path, "", { flag: "wx", mode: 0o600 });
    } catch {
      // A folder the daemon cannot write into (read-only, or only the cert folders are its own): no fence, so no hints.
      this.waiting.delete(name);
      cancel();
      return false;
    }
    try {
      return await seen;
    } finally {
      this.waiting.delete(name);
      cancel();
      await unlink(path).catch(() => {});
    }
  }
}
