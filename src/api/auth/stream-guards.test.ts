/** @module StreamGuards: a stream closes when its credential ends (recheck), when it expires (timer), and at once when it ended already. */
import { expect, test } from "bun:test";
import { FakeClock } from "../../testing/fake-clock.ts";
import { CLOSE_CREDENTIAL_ENDED, StreamGuards } from "./stream-guards.ts";

const closer = () => {
  const closes: [number, string][] = [];
  return { closes, close: (code: number, reason: string) => closes.push([code, reason]) };
};

test("recheck closes the streams whose credential no longer holds, and only those", () => {
  const guards = new StreamGuards(new FakeClock());
  let aValid = true;
  const a = closer();
  const b = closer();
  guards.guard(() => aValid, null, "session ended")(a.close);
  guards.guard(() => true, null, "token changed")(b.close);
  guards.recheck();
  expect(a.closes).toEqual([]);
  aValid = false;
  guards.recheck();
  expect(a.closes).toEqual([[CLOSE_CREDENTIAL_ENDED, "session ended"]]);
  expect(b.closes).toEqual([]);
  expect(guards.size).toBe(1);
  guards.recheck();
  expect(a.closes.length).toBe(1);
});

test("a session's stream closes when the session expires; one released before is left alone", async () => {
  const clock = new FakeClock();
  const guards = new StreamGuards(clock);
  const expires = new Date(clock.now().getTime() + 6000);
  const open = closer();
  const gone = closer();
  guards.guard(() => true, expires, "session ended")(open.close);
  const release = guards.guard(() => true, expires, "session ended")(gone.close);
  release();
  await clock.advance(5999);
  expect(open.closes).toEqual([]);
  await clock.advance(1);
  expect(open.closes).toEqual([[CLOSE_CREDENTIAL_ENDED, "session ended"]]);
  expect(gone.closes).toEqual([]);
  expect(guards.size).toBe(0);
  expect(clock.pending()).toBe(0);
});

test("an expiry beyond setTimeout's range is reached in steps", async () => {
  const clock = new FakeClock();
  const guards = new StreamGuards(clock);
  const year = 366 * 24 * 3600 * 1000;
  const s = closer();
  guards.guard(() => true, new Date(clock.now().getTime() + year), "session ended")(s.close);
  await clock.advance(year - 1);
  expect(s.closes).toEqual([]);
  await clock.advance(1);
  expect(s.closes.length).toBe(1);
});

test("a stream registered after its credential ended closes at once and holds nothing", () => {
  const guards = new StreamGuards(new FakeClock());
  const s = closer();
  guards.guard(() => false, null, "session ended")(s.close);
  expect(s.closes).toEqual([[CLOSE_CREDENTIAL_ENDED, "session ended"]]);
  expect(guards.size).toBe(0);
});
