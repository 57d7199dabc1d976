/**
 * @module The propagate step's timing on a fake clock: a look at once, then one every
 * interval, a timeout that names what is still missing, cancellation while waiting.
 */
import { describe, expect, test } from "bun:test";
import type { PropagationPolicy } from "../backends/types.ts";
import type { Visibility, VisibilityCheck } from "../dns/visibility.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { awaitPropagation } from "./propagate.ts";

const NAME = "_acme-challenge.example.test";
const records = [{ name: NAME, value: "v1" }];
const policy: PropagationPolicy = { check: true, resolvers: [], bootstrapResolver: null, intervalSeconds: 2, timeoutSeconds: 5, followCname: true };
const lagging: Visibility = { missing: [`${NAME} at ns2.example.test (192.0.2.2:53)`], answers: [`ns1.example.test (192.0.2.1:53) for ${NAME}: "v1"`, `ns2.example.test (192.0.2.2:53) for ${NAME}: no TXT`] };
const caughtUp: Visibility = { missing: [], answers: [`ns1.example.test (192.0.2.1:53) for ${NAME}: "v1"`, `ns2.example.test (192.0.2.2:53) for ${NAME}: "v1"`] };

/** A check that answers from `replies` in turn (the last one for ever), noting the time of each look. */
function scripted(clock: FakeClock, replies: Visibility[]): { check: VisibilityCheck; looks: number[] } {
  const looks: number[] = [];
  const start = clock.now().getTime();
  const check: VisibilityCheck = async () => {
    looks.push((clock.now().getTime() - start) / 1000);
    return replies[Math.min(looks.length - 1, replies.length - 1)]!;
  };
  return { check, looks };
}

describe("awaitPropagation", () => {
  test("visible at the first look: done without waiting, saying which servers answered what", async () => {
    const clock = new FakeClock();
    const { check, looks } = scripted(clock, [caughtUp]);
    const message = await awaitPropagation(records, policy, check, clock, new AbortController().signal);
    expect(message).toBe(`visible after 1 look(s): ${caughtUp.answers.join("; ")}`);
    expect(looks).toEqual([0]);
    expect(clock.pending()).toBe(0);
  });

  test("a lagging server: looks again every interval until it shows the value", async () => {
    const clock = new FakeClock();
    const { check, looks } = scripted(clock, [lagging, lagging, caughtUp]);
    const result = awaitPropagation(records, policy, check, clock, new AbortController().signal);
    // The first look settles and arms the wait before time moves.
    await clock.advance(0);
    await clock.advance(4000);
    expect(await result).toStartWith("visible after 3 look(s): ");
    expect(looks).toEqual([0, 2, 4]);
  });

  test("a timeout fails naming what is missing, with a last look at the deadline", async () => {
    const clock = new FakeClock();
    const { check, looks } = scripted(clock, [lagging]);
    const result = awaitPropagation(records, policy, check, clock, new AbortController().signal);
    const settled = result.catch((err: unknown) => err);
    await clock.advance(0);
    await clock.advance(5000);
    const err = await settled;
    expect(err).toMatchObject({ code: "propagation_timeout" });
    expect((err as Error).message).toBe(`propagate: not visible after 5 s: ${lagging.missing[0]} (last answers: ${lagging.answers.join("; ")})`);
    expect(looks).toEqual([0, 2, 4, 5]);
    expect(clock.pending()).toBe(0);
  });

  test("a shutdown while waiting rejects at once as aborted and leaves no timer", async () => {
    const clock = new FakeClock();
    const { check } = scripted(clock, [lagging]);
    const abort = new AbortController();
    const result = awaitPropagation(records, policy, check, clock, abort.signal).catch((err: unknown) => err);
    await clock.advance(0);
    expect(clock.pending()).toBe(1);
    abort.abort(new Error("daemon stopping"));
    expect(await result).toMatchObject({ code: "aborted" });
    expect(clock.pending()).toBe(0);
  });
});
