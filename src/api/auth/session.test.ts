/** @module Session cookies: signed under the key and the token, ended by their expiry or a logout, whichever comes first. */
import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { FakeClock } from "../../testing/fake-clock.ts";
import { RevokedSessions } from "./revoked.ts";
import { Sessions } from "./session.ts";

test("a session outlives a restart: a new Sessions on the same key and token accepts it", () => {
  const clock = new FakeClock();
  const key = randomBytes(32);
  const { cookie, session } = new Sessions(key, "token-token-token", 12, clock).issue();
  expect(new Sessions(key, "token-token-token", 12, clock).verify(cookie)).toEqual(session);
  expect(new Sessions(key, "another-token-xyz", 12, clock).verify(cookie)).toBeNull();
});

test("a logout holds in every Sessions sharing the revocations: a reload that changes session_hours keeps it", async () => {
  const clock = new FakeClock();
  const key = randomBytes(32);
  const revoked = new RevokedSessions();
  const before = new Sessions(key, "token-token-token", 1, clock, revoked);
  const out = before.issue();
  const kept = before.issue();
  before.revoke(out.session);
  const after = new Sessions(key, "token-token-token", 2, clock, revoked);
  expect(after.verify(out.cookie)).toBeNull();
  expect(after.verify(kept.cookie)).toEqual(kept.session);
  await clock.advance(3600 * 1000);
  expect(after.verify(kept.cookie)).toBeNull();
});

test.each(["", "v1.a.b", "v1.id.notanumber.mac", "v2.id.1.mac", "x".repeat(500)])("the cookie %p is no session", (cookie) => {
  expect(new Sessions(Buffer.alloc(32), "token-token-token", 12, new FakeClock()).verify(cookie)).toBeNull();
});
