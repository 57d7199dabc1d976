/**
 * @module The folder watch behind a sweep's change hints, on a real folder: a change under a
 * cert's folder is seen once a fence comes back, the folder itself moved drops every hint,
 * a network filesystem is never watched, fences leave nothing behind, and the watch's start
 * (on its thread) never holds the event loop.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { settle } from "../../../testing/fake-clock.ts";
import { FolderWatch, folderHints, isLocalFilesystem, keepFolderWatches } from "./change-hints.ts";
import { stopWatchThread, type StartWatch, type WatchEvents } from "./watch-thread-client.ts";

const EXT4 = 0xef53;
const NFS = 0x6969;

let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "rota-hints-"));
  dir = join(root, "certs");
  for (const id of ["www", "api"]) {
    mkdirSync(join(dir, id), { recursive: true });
    writeFileSync(join(dir, id, "cert.pem"), "one");
  }
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A watch on `dir` as on a filesystem of `type`, started: its first mark. */
async function watching(type = EXT4): Promise<{ hints: FolderWatch; mark: number | null }> {
  const hints = new FolderWatch(dir, systemClock, async () => type);
  expect(hints.mark()).toBeNull();
  await hints.ready();
  return { hints, mark: hints.mark() };
}

test("local filesystems are told apart from network and FUSE ones", () => {
  expect([0xef53, 0x58465342, 0x9123683e, 0x01021994].every(isLocalFilesystem)).toBe(true);
  // NFS, SMB2, CIFS, FUSE, overlayfs.
  expect([0x6969, 0xfe534d42, 0xff534d42, 0x65735546, 0x794c7630].some(isLocalFilesystem)).toBe(false);
});

test("after a fence, a change under one cert's folder is seen for that cert alone", async () => {
  const { hints, mark } = await watching();
  expect(mark).not.toBeNull();
  expect(await hints.fence({})).toBe(true);
  expect(hints.unchangedSince("www", mark!)).toBe(true);

  // Each kind of change: written in place, mode changed, replaced by a rename, removed.
  const changes: [string, () => void][] = [
    ["written", () => writeFileSync(join(dir, "www", "cert.pem"), "two")],
    ["chmod", () => chmodSync(join(dir, "www", "cert.pem"), 0o600)],
    ["renamed over", () => (writeFileSync(join(dir, "www", ".new"), "three"), renameSync(join(dir, "www", ".new"), join(dir, "www", "cert.pem")))],
    ["removed", () => rmSync(join(dir, "www", "cert.pem"))],
    ["folder replaced", () => (rmSync(join(dir, "www"), { recursive: true }), mkdirSync(join(dir, "www")))],
  ];
  for (const [what, change] of changes) {
    const before = hints.mark()!;
    change();
    expect(await hints.fence({}), what).toBe(true);
    expect(hints.unchangedSince("www", before), what).toBe(false);
    expect(hints.unchangedSince("api", before), what).toBe(true);
  }
});

test("one fence per sweep, shared by its reads, and no fence file left behind", async () => {
  const { hints } = await watching();
  const sweep = {};
  const first = hints.fence(sweep);
  expect(hints.fence(sweep)).toBe(first);
  expect(await first).toBe(true);
  await settle();
  expect(readdirSync(dir).sort()).toEqual(["api", "www"]);
});

test("the folder moved away: every hint dropped, and the folder now at that path watched anew", async () => {
  const { hints, mark } = await watching();
  renameSync(dir, join(root, "old"));
  mkdirSync(join(dir, "www"), { recursive: true });
  // The move is an event on the watched folder itself; it arrives on its own.
  for (let i = 0; i < 400 && hints.unchangedSince("www", mark!); i++) await Bun.sleep(5);
  expect(hints.unchangedSince("www", mark!)).toBe(false);
  expect(hints.unchangedSince("api", mark!)).toBe(false);

  // Watched anew once its walk is done, on the watch thread.
  expect(hints.mark()).toBeNull();
  await hints.ready();
  const again = hints.mark();
  expect(again).not.toBeNull();
  expect(await hints.fence({})).toBe(true);
  expect(hints.unchangedSince("www", again!)).toBe(true);
  writeFileSync(join(dir, "www", "cert.pem"), "new");
  expect(await hints.fence({})).toBe(true);
  expect(hints.unchangedSince("www", again!)).toBe(false);
  // A change in the folder moved away concerns no cert any more.
  writeFileSync(join(root, "old", "api", "cert.pem"), "moved");
  expect(await hints.fence({})).toBe(true);
  expect(hints.unchangedSince("api", again!)).toBe(true);
});

test("a folder on a network filesystem is never watched: no mark, no fence", async () => {
  const { hints, mark } = await watching(NFS);
  expect(mark).toBeNull();
  expect(await hints.fence({})).toBe(false);
});

test("a folder not there yet is watched once it is", async () => {
  rmSync(dir, { recursive: true });
  const hints = new FolderWatch(dir, systemClock, async () => EXT4);
  await hints.ready();
  expect(hints.mark()).toBeNull();
  mkdirSync(dir);
  await hints.ready();
  expect(hints.mark()).not.toBeNull();
});

test("what changed since a sweep's mark: the first question waits for the watch and vouches for nothing before it; later ones name the certs changed", async () => {
  const hints = new FolderWatch(dir, systemClock, async () => EXT4);
  const changed: string[] = [];
  const first = await hints.changesSince({}, null, (id) => changed.push(id));
  expect(first).toEqual({ mark: expect.any(Number), all: true });

  const quiet = await hints.changesSince({}, first.mark, (id) => changed.push(id));
  expect(quiet).toEqual({ mark: first.mark, all: false });
  expect(changed).toEqual([]);

  writeFileSync(join(dir, "www", "cert.pem"), "two");
  const after = await hints.changesSince({}, quiet.mark, (id) => changed.push(id));
  expect(after.all).toBe(false);
  expect(after.mark!).toBeGreaterThan(quiet.mark!);
  expect(changed).toEqual(["www"]);

  // Only what came after the mark asked with.
  changed.length = 0;
  expect(await hints.changesSince({}, after.mark, (id) => changed.push(id))).toEqual({ mark: after.mark, all: false });
  expect(changed).toEqual([]);

  // The folder moved away: nothing since can be vouched for.
  renameSync(dir, join(root, "old"));
  mkdirSync(dir);
  for (let i = 0; i < 400 && hints.unchangedSince("www", after.mark!); i++) await Bun.sleep(5);
  expect((await hints.changesSince({}, after.mark, (id) => changed.push(id))).all).toBe(true);
});

test("on a network filesystem, a sweep is never vouched for", async () => {
  const hints = new FolderWatch(dir, systemClock, async () => NFS);
  expect(await hints.changesSince({}, null, () => {})).toEqual({ mark: null, all: true });
  expect(await hints.changesSince({}, 1, () => {})).toEqual({ mark: null, all: true });
});

test("the watch's walk runs off this thread: the event loop turns while a watch of 3,000 cert folders starts, and a change made right before each fence is seen", async () => {
  for (let i = 0; i < 3000; i++) mkdirSync(join(dir, `c${i}`));
  const hints = new FolderWatch(dir, systemClock, async () => EXT4);
  hints.mark();
  await settle();
  // The folder is known local: this call starts the watch, and returns before its walk is done.
  expect(hints.mark()).toBeNull();
  let turns = 0;
  let starting = true;
  const tick = () => {
    if (!starting) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  await hints.ready();
  starting = false;
  expect(turns).toBeGreaterThan(0);
  expect(hints.mark()).not.toBeNull();

  // One watcher's events, forwarded in order: a fence never overtakes a change made before it.
  for (let round = 0; round < 200; round++) {
    const id = `c${(round * 7) % 3000}`;
    const before = hints.mark()!;
    writeFileSync(join(dir, id, "cert.pem"), `${round}`);
    expect(await hints.fence({})).toBe(true);
    expect(hints.unchangedSince(id, before)).toBe(false);
    expect(hints.unchangedSince("www", before)).toBe(true);
  }
  hints.close();
});

test("a watch that stops (its thread gone) drops every hint; the next question starts it again", async () => {
  const runs: { events: WatchEvents; stopped: boolean }[] = [];
  const start: StartWatch = (_dir, events) => {
    const run = { events, stopped: false };
    runs.push(run);
    queueMicrotask(() => events.started());
    return () => void (run.stopped = true);
  };
  const hints = new FolderWatch(dir, systemClock, async () => EXT4, start);
  await hints.ready();
  const mark = hints.mark()!;
  expect(hints.unchangedSince("www", mark)).toBe(true);

  runs[0]!.events.failed(null);
  expect(hints.unchangedSince("www", mark)).toBe(false);
  expect(runs[0]!.stopped).toBe(true);
  // Events of the stopped watch concern nothing any more.
  runs[0]!.events.changed("api/cert.pem");
  expect(hints.mark()).toBeNull();
  await hints.ready();
  expect(runs).toHaveLength(2);
  const again = hints.mark()!;
  expect(again).toBeGreaterThan(mark);
  expect(hints.unchangedSince("api", again)).toBe(true);
});

test("a watch that cannot start (the thread could not run it) is not asked again: the disk is read", async () => {
  let starts = 0;
  const start: StartWatch = (_dir, events) => {
    starts++;
    queueMicrotask(() => events.failed(null));
    return () => {};
  };
  const hints = new FolderWatch(dir, systemClock, async () => EXT4, start);
  await hints.ready();
  expect(hints.mark()).toBeNull();
  expect(await hints.changesSince({}, null, () => {})).toEqual({ mark: null, all: true });
  expect(starts).toBe(1);
});

test("the watch thread stopped (a daemon's stop): the hints are dropped, and the next question starts a thread anew", async () => {
  const { hints, mark } = await watching();
  stopWatchThread();
  expect(hints.unchangedSince("www", mark!)).toBe(false);
  expect(hints.mark()).toBeNull();
  await hints.ready();
  const again = hints.mark()!;
  writeFileSync(join(dir, "www", "cert.pem"), "two");
  expect(await hints.fence({})).toBe(true);
  expect(hints.unchangedSince("www", again)).toBe(false);
  expect(hints.unchangedSince("api", again)).toBe(true);
  hints.close();
});

test("a retired watch is stopped and never started again, even retired while its folder's type was being asked", async () => {
  const runs: { stopped: boolean }[] = [];
  const start: StartWatch = (_dir, events) => {
    const run = { stopped: false };
    runs.push(run);
    queueMicrotask(() => events.started());
    return () => void (run.stopped = true);
  };
  const hints = new FolderWatch(dir, systemClock, async () => EXT4, start);
  await hints.ready();
  expect(hints.mark()).not.toBeNull();
  hints.retire();
  expect(runs[0]!.stopped).toBe(true);
  await hints.ready();
  expect(hints.mark()).toBeNull();
  expect(await hints.changesSince({}, null, () => {})).toEqual({ mark: null, all: true });
  expect(runs).toHaveLength(1);

  let answer = (_type: number) => {};
  const asking = new FolderWatch(dir, systemClock, () => new Promise<number>((resolve) => (answer = resolve)), start);
  expect(asking.mark()).toBeNull();
  asking.retire();
  answer(EXT4);
  await asking.ready();
  expect(asking.mark()).toBeNull();
  expect(runs).toHaveLength(1);
});

test("keepFolderWatches: the folders kept keep their watch object, the others are retired and forgotten", () => {
  const kept = join(root, "kept");
  const dropped = join(root, "dropped");
  const a = folderHints(kept);
  const b = folderHints(dropped);
  keepFolderWatches([`${kept}/`]);
  expect(folderHints(kept)).toBe(a);
  const b2 = folderHints(dropped);
  expect(b2).not.toBe(b);
  expect(b.mark()).toBeNull();
  keepFolderWatches([]);
});
