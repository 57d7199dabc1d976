import { describe, expect, test } from "bun:test";
import { Limiter } from "./limiter.ts";

describe("Limiter.enter", () => {
  test("grants at once while a slot is free, then in arrival order as holders release", () => {
    const limiter = new Limiter(1);
    const order: string[] = [];
    const releases: Array<() => void> = [];
    for (const name of ["a", "b", "c"]) limiter.enter({ grant: (release) => (order.push(name), releases.push(release)) });
    expect(order).toEqual(["a"]);
    releases[0]!();
    releases[0]!();
    expect(order).toEqual(["a", "b"]);
    expect(limiter.held).toBe(1);
    releases[1]!();
    releases[2]!();
    expect(order).toEqual(["a", "b", "c"]);
    expect(limiter.held).toBe(0);
  });

  test("leave takes a waiter out of the line, and is false once it holds its slot", () => {
    const limiter = new Limiter(1);
    const granted: string[] = [];
    let releaseA = () => {};
    const a = { grant: (release: () => void) => ((releaseA = release), granted.push("a")) };
    const b = { grant: () => void granted.push("b") };
    limiter.enter(a);
    limiter.enter(b);
    expect(limiter.leave(a)).toBe(false);
    expect(limiter.leave(b)).toBe(true);
    releaseA();
    expect(granted).toEqual(["a"]);
    expect(limiter.held).toBe(0);
  });

  test("acquire and enter share one line", async () => {
    const limiter = new Limiter(1);
    const order: string[] = [];
    let first = () => {};
    limiter.enter({ grant: (release) => (first = release) });
    const acquired = limiter.acquire(new AbortController().signal).then((release) => (order.push("acquire"), release));
    limiter.enter({ grant: () => void order.push("enter") });
    first();
    (await acquired)();
    expect(order).toEqual(["acquire", "enter"]);
  });
});
