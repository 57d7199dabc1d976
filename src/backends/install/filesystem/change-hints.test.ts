/**
 * @module The folder watch behind a sweep's change hints, on a real folder: a change under a
 * cert's folder is seen once a fence comes back, the folder itself moved drops every hint,
 * a network filesystem is never watched, and fences leave nothing behind.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { settle } from "../../../testing/fake-clock.ts";
import { FolderWatch, isLocalFilesystem } from "./change-hints.ts";

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
  await settle();
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
  hints.mark();
  await settle();
  expect(hints.mark()).toBeNull();
  await settle();
  mkdirSync(dir);
  hints.mark();
  await settle();
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
