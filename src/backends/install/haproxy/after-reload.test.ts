/**
 * @module The check after `reload_command` on a fake clock: each look's meaning word for
 * word, a new process that does not load the path ends the wait at once, a reload that
 * replaced nothing waits out the bound, cancellation leaves no timer.
 */
import { describe, expect, test } from "bun:test";
import { FakeClock } from "../../../testing/fake-clock.ts";
import { awaitLoaded, judgeLook, RELOAD_LOAD_WAIT_MS, type LoadQuestion, type Look } from "./after-reload.ts";

const PATH = "/etc/haproxy/certs/www.pem";
const HINT = `add "crt ${PATH}" to a bind line (or a crt-list) of that HAProxy's config`;
const q: LoadQuestion = { where: "/run/haproxy/admin.sock", path: PATH, serial: "0a1b", before: "lb/100" };
const answered = (process: string | null, serial: string | null): Look => ({ kind: "answered", process, serial });

describe("judgeLook", () => {
  test("the file's serial served (leading zeros aside): done, no problem", () => {
    expect(judgeLook(q, answered("lb/100", "A1B"))).toEqual({ done: true, problem: null });
    expect(judgeLook(q, answered(null, "0a1b"))).toEqual({ done: true, problem: null });
  });

  test("a new process that does not load the path: done, its config does not name it", () => {
    expect(judgeLook(q, answered("lb/200", null))).toEqual({
      done: true,
      problem: `/run/haproxy/admin.sock: reloaded (now process lb/200), but HAProxy still does not load ${PATH}: ${HINT}`,
    });
  });

  test("the process from before the reload, or one not named: not yet, the problem asks whether the reload reloads", () => {
    const same = judgeLook(q, answered("lb/100", null));
    expect(same.done).toBe(false);
    if (!same.done) {
      expect(same.problemAfter(10)).toBe(
        `/run/haproxy/admin.sock: reload_command ran, but after 10 s HAProxy still does not load ${PATH} (process lb/100, from before the reload, still answers: does reload_command reload this HAProxy?): ${HINT}`,
      );
    }
    const unnamed = judgeLook({ ...q, before: null }, answered(null, null));
    expect(unnamed.done).toBe(false);
    if (!unnamed.done) expect(unnamed.problemAfter(10)).toBe(`/run/haproxy/admin.sock: reload_command ran, but after 10 s HAProxy still does not load ${PATH}: ${HINT}`);
  });

  test("another serial served, or the socket not answering: not yet, each named", () => {
    const other = judgeLook(q, answered("lb/200", "ff"));
    if (other.done) throw new Error("done");
    expect(other.problemAfter(10)).toBe(`/run/haproxy/admin.sock: reload_command ran, but after 10 s HAProxy serves serial ff for ${PATH}, which holds 0a1b`);
    const gone = judgeLook(q, { kind: "failed", error: "/run/haproxy/admin.sock: cannot connect: connect ENOENT /run/haproxy/admin.sock" });
    if (gone.done) throw new Error("done");
    expect(gone.problemAfter(10)).toBe("/run/haproxy/admin.sock: reload_command ran, but for 10 s the socket gave no answer: /run/haproxy/admin.sock: cannot connect: connect ENOENT /run/haproxy/admin.sock");
  });
});

/** A look that answers from `looks` in turn (the last one for ever), noting the time of each. */
function scripted(clock: FakeClock, looks: Look[]): { look: () => Promise<Look>; at: number[] } {
  const at: number[] = [];
  const start = clock.now().getTime();
  return {
    at,
    look: async () => {
      at.push(clock.now().getTime() - start);
      return looks[Math.min(at.length - 1, looks.length - 1)]!;
    },
  };
}

describe("awaitLoaded", () => {
  const signal = new AbortController().signal;

  test("loaded at the first look: no wait", async () => {
    const clock = new FakeClock();
    const { look, at } = scripted(clock, [answered("lb/200", "0a1b")]);
    expect(await awaitLoaded(q, look, clock, signal)).toBeNull();
    expect(at).toEqual([0]);
    expect(clock.pending()).toBe(0);
  });

  test("the socket gone while HAProxy reloads, then the new process with the file: loaded", async () => {
    const clock = new FakeClock();
    const { look, at } = scripted(clock, [answered("lb/100", null), { kind: "failed", error: "gone" }, answered("lb/200", "0a1b")]);
    const result = awaitLoaded(q, look, clock, signal);
    await clock.advance(0);
    await clock.advance(1000);
    expect(await result).toBeNull();
    expect(at).toEqual([0, 250, 500]);
  });

  test("the reloaded process does not load the path: fails at that look, without waiting out the bound", async () => {
    const clock = new FakeClock();
    const { look, at } = scripted(clock, [answered("lb/100", null), answered("lb/200", null)]);
    const result = awaitLoaded(q, look, clock, signal);
    await clock.advance(0);
    await clock.advance(250);
    expect(await result).toStartWith("/run/haproxy/admin.sock: reloaded (now process lb/200), but HAProxy still does not load");
    expect(at).toEqual([0, 250]);
    expect(clock.pending()).toBe(0);
  });

  test("nothing reloaded: looks until the bound, the last look at the deadline, then the problem", async () => {
    const clock = new FakeClock();
    const { look, at } = scripted(clock, [answered("lb/100", null)]);
    const result = awaitLoaded(q, look, clock, signal);
    await clock.advance(0);
    await clock.advance(RELOAD_LOAD_WAIT_MS);
    expect(await result).toContain(`after ${RELOAD_LOAD_WAIT_MS / 1000} s HAProxy still does not load ${PATH} (process lb/100, from before the reload`);
    expect(at.length).toBe(RELOAD_LOAD_WAIT_MS / 250 + 1);
    expect(at.at(-1)).toBe(RELOAD_LOAD_WAIT_MS);
    expect(clock.pending()).toBe(0);
  });

  test("a shutdown while waiting rejects as aborted and leaves no timer", async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    const { look } = scripted(clock, [answered("lb/100", null)]);
    const result = awaitLoaded(q, look, clock, abort.signal).catch((err: unknown) => err);
    await clock.advance(0);
    abort.abort(new Error("daemon stopping"));
    expect(await result).toMatchObject({ code: "aborted" });
    expect(clock.pending()).toBe(0);
  });
});
