/** @module Locks exclude each other within a process and across processes, and die with their holder. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockNow, withLock } from "./lockfile.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-lock-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("lockNow refuses a held lock and succeeds once it is released", () => {
  const path = join(dir, "x.lock");
  const held = lockNow(path, "held");
  expect(() => lockNow(path, "someone holds x")).toThrow("someone holds x");
  held.release();
  lockNow(path, "free").release();
});

test("withLock callers in one process run one at a time", async () => {
  const path = join(dir, "x.lock");
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 5 }, () =>
      withLock(path, 10_000, "test", async () => {
        most = Math.max(most, ++inside);
        await Bun.sleep(20);
        inside--;
      }),
    ),
  );
  expect(most).toBe(1);
});

test("a lock held by another process is waited for, and freed when that process is killed", async () => {
  const path = join(dir, "x.lock");
  const holder = Bun.spawn(["bun", "-e", `require("bun:sqlite"); const d = new (require("bun:sqlite").Database)(${JSON.stringify(path)}); d.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;"); console.log("held"); setInterval(() => {}, 1000);`], { stdout: "pipe" });
  const reader = holder.stdout.getReader();
  await reader.read();
  expect(() => lockNow(path, "busy")).toThrow("busy");
  const waiting = withLock(path, 10_000, "test", async () => "got it");
  holder.kill("SIGKILL");
  expect(await waiting).toBe("got it");
});

test("a wait for the lock ends when its signal fires", async () => {
  const path = join(dir, "x.lock");
  const held = lockNow(path, "held");
  const ac = new AbortController();
  const waiting = withLock(path, 10_000, "test", async () => "got it", ac.signal).catch((e: unknown) => e);
  ac.abort(new Error("stopping"));
  expect(await waiting).toMatchObject({ code: "aborted", message: "test: cancelled" });
  held.release();
});
