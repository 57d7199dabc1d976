/** @module The session key file: made once with 0600, read back at restarts, never trusted through a symlink. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../../testing/fake-clock.ts";
import { Sessions, loadSessionKey } from "./session.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-session-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the key is made once, 0600 in a 0700 folder, and the same at the next start", () => {
  const state = join(dir, "a");
  const key = loadSessionKey(state);
  expect(key).toHaveLength(32);
  expect(statSync(join(state, "http", "session.key")).mode & 0o777).toBe(0o600);
  expect(statSync(join(state, "http")).mode & 0o777).toBe(0o700);
  expect(loadSessionKey(state).equals(key)).toBe(true);
});

test("a session outlives a restart: a new Sessions on the same key and token accepts it", () => {
  const clock = new FakeClock();
  const key = loadSessionKey(join(dir, "b"));
  const { cookie, session } = new Sessions(key, "token-token-token", 12, clock).issue();
  expect(new Sessions(key, "token-token-token", 12, clock).verify(cookie)).toEqual(session);
  expect(new Sessions(key, "another-token-xyz", 12, clock).verify(cookie)).toBeNull();
});

test("a symlink or a key of the wrong size is refused, not followed or overwritten", () => {
  const state = join(dir, "c");
  mkdirSync(join(state, "http"), { recursive: true });
  writeFileSync(join(dir, "elsewhere"), "x".repeat(32));
  symlinkSync(join(dir, "elsewhere"), join(state, "http", "session.key"));
  expect(() => loadSessionKey(state)).toThrow("is a symlink");
  const short = join(dir, "d");
  mkdirSync(join(short, "http"), { recursive: true });
  writeFileSync(join(short, "http", "session.key"), "short");
  expect(() => loadSessionKey(short)).toThrow("is not a 32-byte key");
});

test.each(["", "v1.a.b", "v1.id.notanumber.mac", "v2.id.1.mac", "x".repeat(500)])("the cookie %p is no session", (cookie) => {
  expect(new Sessions(Buffer.alloc(32), "token-token-token", 12, new FakeClock()).verify(cookie)).toBeNull();
});
