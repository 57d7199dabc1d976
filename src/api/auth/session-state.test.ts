/**
 * @module The session key and the logouts on disk: made once with 0600, read back at a
 * restart, and a lost or corrupt revocation file answered by a new key, never by
 * trusting the cookies it no longer lists.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { FakeClock } from "../../testing/fake-clock.ts";
import { RevokedSessions } from "./revoked.ts";
import { loadSessionState } from "./session-state.ts";
import { Sessions } from "./session.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-session-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = "token-token-token";
const logged: string[] = [];
const log = createConsola({ level: 1, reporters: [{ log: (o) => logged.push(`${o.type}: ${o.args.join(" ")}`) }] });
const revokedFile = (state: string) => join(state, "http", "revoked.json");

test("the key and an empty revocation file are made once, 0600 in a 0700 folder; the next start reads the same key", () => {
  const state = join(dir, "a");
  const clock = new FakeClock();
  const { key } = loadSessionState(state, clock, log);
  expect(key).toHaveLength(32);
  expect(statSync(join(state, "http", "session.key")).mode & 0o777).toBe(0o600);
  expect(statSync(revokedFile(state)).mode & 0o777).toBe(0o600);
  expect(statSync(join(state, "http")).mode & 0o777).toBe(0o700);
  expect(JSON.parse(readFileSync(revokedFile(state), "utf8"))).toEqual({ version: 1, sessions: {} });
  expect(loadSessionState(state, clock, log).key.equals(key)).toBe(true);
});

test("a logout survives a restart; the other sessions do too", () => {
  const state = join(dir, "b");
  const clock = new FakeClock();
  const first = loadSessionState(state, clock, log);
  const sessions = new Sessions(first.key, TOKEN, 12, clock, first.revoked);
  const out = sessions.issue();
  const kept = sessions.issue();
  sessions.revoke(out.session);
  expect(statSync(revokedFile(state)).mode & 0o777).toBe(0o600);

  const second = loadSessionState(state, clock, log);
  const restarted = new Sessions(second.key, TOKEN, 12, clock, second.revoked);
  expect(restarted.verify(out.cookie)).toBeNull();
  expect(restarted.verify(kept.cookie)).toEqual(kept.session);
});

test("the file keeps only the logouts whose cookies could still be valid", async () => {
  const state = join(dir, "c");
  const clock = new FakeClock();
  const { key, revoked } = loadSessionState(state, clock, log);
  const short = new Sessions(key, TOKEN, 1, clock, revoked).issue().session;
  const long = new Sessions(key, TOKEN, 12, clock, revoked).issue().session;
  new Sessions(key, TOKEN, 1, clock, revoked).revoke(short);
  await clock.advance(2 * 3600 * 1000);
  new Sessions(key, TOKEN, 12, clock, revoked).revoke(long);
  const written = JSON.parse(readFileSync(revokedFile(state), "utf8")) as { sessions: Record<string, number> };
  expect(written.sessions).toEqual({ [long.id]: long.expires.getTime() / 1000 });
});

test.each([
  ["missing", (path: string) => rmSync(path), "is missing"],
  ["not JSON", (path: string) => writeFileSync(path, "{"), "is not valid JSON"],
  ["of another shape", (path: string) => writeFileSync(path, '{"version":1,"sessions":{"<script>":"soon"}}'), "holds an entry that is not a session id"],
  ["a symlink", (path: string) => (rmSync(path), writeFileSync(`${path}.elsewhere`, '{"version":1,"sessions":{}}'), symlinkSync(`${path}.elsewhere`, path)), "cannot be read"],
])("a revocation file %s ends every session signed before: a new key, logged, not fatal", (name, spoil, problem) => {
  const state = join(dir, `lost-${name.replaceAll(" ", "-")}`);
  const clock = new FakeClock();
  const first = loadSessionState(state, clock, log);
  const { cookie } = new Sessions(first.key, TOKEN, 12, clock, first.revoked).issue();
  spoil(revokedFile(state));
  logged.length = 0;

  const second = loadSessionState(state, clock, log);
  expect(second.key.equals(first.key)).toBe(false);
  expect(new Sessions(second.key, TOKEN, 12, clock, second.revoked).verify(cookie)).toBeNull();
  expect(logged).toEqual([expect.stringMatching(new RegExp(`^warn: http: .*revoked\\.json ${problem}.*every browser session has ended`))]);
  // The new key comes with its own file: the start after is an ordinary one.
  expect(loadSessionState(state, clock, log).key.equals(second.key)).toBe(true);
  expect(JSON.parse(readFileSync(revokedFile(state), "utf8"))).toEqual({ version: 1, sessions: {} });
});

test("a key that is a symlink or of the wrong size is refused, not followed or overwritten", () => {
  const state = join(dir, "d");
  mkdirSync(join(state, "http"), { recursive: true });
  writeFileSync(join(dir, "elsewhere"), "x".repeat(32));
  symlinkSync(join(dir, "elsewhere"), join(state, "http", "session.key"));
  expect(() => loadSessionState(state, new FakeClock(), log)).toThrow("is a symlink");
  const short = join(dir, "e");
  mkdirSync(join(short, "http"), { recursive: true });
  writeFileSync(join(short, "http", "session.key"), "short");
  expect(() => loadSessionState(short, new FakeClock(), log)).toThrow("is not a 32-byte key");
  expect(readFileSync(join(dir, "elsewhere"), "utf8")).toBe("x".repeat(32));
});

test("a logout that cannot be written is logged and still holds in memory", () => {
  const clock = new FakeClock();
  const blocked = join(dir, "blocked");
  mkdirSync(join(blocked, "revoked.json"), { recursive: true });
  const revoked = new RevokedSessions({ path: join(blocked, "revoked.json"), log });
  const sessions = new Sessions(Buffer.alloc(32), TOKEN, 12, clock, revoked);
  const { cookie, session } = sessions.issue();
  logged.length = 0;
  sessions.revoke(session);
  expect(sessions.verify(cookie)).toBeNull();
  expect(logged).toEqual([expect.stringMatching(/^error: http: cannot record a logout in .*revoked\.json: .*; it holds until the daemon restarts$/)]);
});
