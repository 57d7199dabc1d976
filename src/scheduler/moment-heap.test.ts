import { expect, test } from "bun:test";
import { MomentHeap } from "./moment-heap.ts";

/** Pops everything: the (id, at) pairs in the order the heap gives them. */
function drain(heap: MomentHeap): [string, number][] {
  const out: [string, number][] = [];
  while (heap.size > 0) {
    out.push([heap.topId()!, heap.topAt()!]);
    heap.pop();
  }
  return out;
}

test("gives the entries earliest first, whatever the order they were pushed in, duplicates included", () => {
  const heap = new MomentHeap();
  // A fixed shuffle of 0..999, each time pushed twice under two ids.
  const ats = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
  for (const at of ats) {
    heap.push(`a${at}`, at);
    heap.push(`b${at}`, at);
  }
  const out = drain(heap);
  expect(out.map(([, at]) => at)).toEqual(ats.flatMap((_, i) => [i, i]));
  // Each id comes with its own time.
  expect(out.every(([id, at]) => id.slice(1) === String(at))).toBe(true);
  expect(heap.topAt()).toBeUndefined();
  expect(heap.topId()).toBeUndefined();
});

test("a pop between pushes keeps the order", () => {
  const heap = new MomentHeap();
  heap.push("c", 30);
  heap.push("a", 10);
  heap.pop();
  heap.push("b", 20);
  heap.push("d", 5);
  expect(drain(heap)).toEqual([["d", 5], ["b", 20], ["c", 30]]);
  heap.pop();
  expect(heap.size).toBe(0);
});

test("reset holds exactly the entries given, earliest first", () => {
  const heap = new MomentHeap();
  heap.push("old", 1);
  heap.reset(new Map([["x", 9], ["y", 3], ["z", 6], ["w", 3]]));
  expect(drain(heap).map(([, at]) => at)).toEqual([3, 3, 6, 9]);
});
