import { expect, test } from "bun:test";
import { FakeClock } from "../testing/fake-clock.ts";
import type { MomentHeap } from "./moment-heap.ts";
import { MomentTimer } from "./moment-timer.ts";

const S = 1_000;

function timer() {
  const clock = new FakeClock();
  const came: string[][] = [];
  const t = new MomentTimer(clock, (ids) => came.push(ids.sort()));
  const at = (ms: number) => new Date(clock.now().getTime() + ms);
  return { clock, came, t, at };
}

/** The heap's entries, live and dead: what a first issuance must not let grow without bound. */
const heapSize = (t: MomentTimer) => (t as unknown as { heap: MomentHeap }).heap.size;

test("fires once for the earliest moment, with every cert whose moment came by then", async () => {
  const { clock, came, t, at } = timer();
  t.set("b", at(20 * S));
  t.set("a", at(10 * S));
  t.set("c", at(10 * S));
  t.arm();
  expect(clock.pending()).toBe(1);
  await clock.advance(10 * S);
  expect(came).toEqual([["a", "c"]]);
  // Not armed again by itself: the scheduler arms it after the look it asked for.
  expect(clock.pending()).toBe(0);
  t.arm();
  await clock.advance(10 * S);
  expect(came).toEqual([["a", "c"], ["b"]]);
});

test("a moment replaced by a later one, or by none, no longer fires; a sooner one noted does", async () => {
  const { clock, came, t, at } = timer();
  t.set("a", at(10 * S));
  t.set("a", at(30 * S));
  t.set("b", at(5 * S));
  t.set("b", null);
  t.set("c", at(40 * S));
  t.note("c", at(50 * S));
  t.note("c", at(20 * S));
  t.arm();
  await clock.advance(15 * S);
  expect(came).toEqual([]);
  t.arm();
  await clock.advance(5 * S);
  expect(came).toEqual([["c"]]);
  t.arm();
  await clock.advance(10 * S);
  expect(came).toEqual([["c"], ["a"]]);
  t.arm();
  expect(clock.pending()).toBe(0);
});

test("a moment already past is never recorded, and one that passed unseen is dropped at the next arm", async () => {
  const { clock, came, t, at } = timer();
  t.set("past", at(-S));
  t.set("now", at(0));
  t.arm();
  expect(clock.pending()).toBe(0);
  t.set("soon", at(5 * S));
  t.set("later", at(60 * S));
  // Stepped past "soon" without its timer firing: the sweeps look at it, the timer does not.
  clock.jump(10 * S);
  t.arm();
  await clock.advance(50 * S);
  expect(came).toEqual([["later"]]);
});

test("at least a second out, however close the moment", async () => {
  const { clock, came, t, at } = timer();
  t.set("a", at(10));
  t.arm();
  await clock.advance(999);
  expect(came).toEqual([]);
  await clock.advance(1);
  expect(came).toEqual([["a"]]);
});

test("retain forgets the certs no longer watched", async () => {
  const { clock, came, t, at } = timer();
  t.set("gone", at(5 * S));
  t.set("kept", at(10 * S));
  t.retain((id) => id === "kept");
  t.arm();
  await clock.advance(10 * S);
  expect(came).toEqual([["kept"]]);
});

test("a clock stepped back finds nothing come and arms itself again for the same moment", async () => {
  const { clock, came, t, at } = timer();
  t.set("a", at(10 * S));
  t.arm();
  clock.jump(-60 * S);
  await clock.advance(10 * S);
  expect(came).toEqual([]);
  expect(clock.pending()).toBe(1);
  await clock.advance(60 * S);
  expect(came).toEqual([["a"]]);
});

test("looks that set the same moment again add nothing; moments that keep moving leave a bounded heap", () => {
  const { t, at } = timer();
  for (let i = 0; i < 100; i++) t.set(`c${i}`, at((i + 1) * S));
  for (let round = 0; round < 50; round++) for (let i = 0; i < 100; i++) t.set(`c${i}`, at((i + 1) * S));
  expect(heapSize(t)).toBe(100);
  for (let round = 0; round < 100; round++) for (let i = 0; i < 100; i++) t.set(`c${i}`, at((i + round + 2) * S));
  expect(heapSize(t)).toBeLessThanOrEqual(2 * 100 + 1_024 + 1);
});
