/** @module UnfinishedWrites and untilAborted: what remove waits for, and how publish gives up without abandoning. */
import { expect, test } from "bun:test";
import { RotaError } from "../../errors.ts";
import { noReplyWithin, UnfinishedWrites, untilAborted } from "./unfinished.ts";

/** A write the test ends by hand. */
function manual() {
  const w = Promise.withResolvers<void>();
  return { write: w.promise, finish: w.resolve, fail: w.reject };
}
/** Whether `p` has settled once every microtask queued so far has run (`p` never rejects here). */
async function hasSettled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

test("settled waits for every write of its key begun so far, failed ones included, and not for other keys", async () => {
  const writes = new UnfinishedWrites();
  const a1 = manual();
  const a2 = manual();
  const b = manual();
  writes.track("a", a1.write);
  writes.track("a", a2.write);
  writes.track("b", b.write);
  const a = writes.settled("a");
  a1.finish();
  expect(await hasSettled(a)).toBe(false);
  a2.fail(new Error("EIO"));
  await a;
  expect(await hasSettled(writes.settled("b"))).toBe(false);
  b.finish();
  await writes.settled("b");
});

test("a key with no write running is settled at once", async () => {
  const writes = new UnfinishedWrites();
  expect(await hasSettled(writes.settled("none"))).toBe(true);
  const w = manual();
  writes.track("k", w.write);
  w.finish();
  await writes.settled("k");
  expect(await hasSettled(writes.settled("k"))).toBe(true);
});

test("untilAborted gives up when the signal fires, naming who, and the work runs on", async () => {
  const w = manual();
  let finished = false;
  void w.write.then(() => (finished = true));
  const ac = new AbortController();
  const waiting = untilAborted(w.write, ac.signal, "cloudflare cf").catch((e: unknown) => e);
  ac.abort(new Error("stopping"));
  expect(await waiting).toMatchObject({ code: "aborted", message: "cloudflare cf: cancelled" });
  w.finish();
  await w.write;
  expect(finished).toBe(true);
  expect(await untilAborted(Promise.resolve(7), new AbortController().signal, "x")).toBe(7);
});

test("noReplyWithin rejects once its time is up while the write runs on, and never once the write has settled", async () => {
  const late = manual();
  const gaveUp = noReplyWithin(late.write, 20, () => new RotaError("timeout", "namecheap nc: no reply"));
  await expect(gaveUp).rejects.toMatchObject({ code: "timeout" });
  expect(await hasSettled(late.write)).toBe(false);
  late.finish();

  const quick = manual();
  const never = noReplyWithin(quick.write, 20, () => new RotaError("timeout", "x"));
  quick.finish();
  await quick.write;
  // Settled or not, well past its time: the race it is in is decided by the write.
  expect(await Promise.race([never.then(() => "settled", () => "rejected"), Bun.sleep(60).then(() => "pending")])).toBe("pending");
});

test("UnfinishedWrites.all: null with nothing running, else settles when every write has ended", async () => {
  const writes = new UnfinishedWrites();
  expect(writes.all()).toBeNull();
  const a = manual();
  const b = manual();
  writes.track("zone-a", a.write);
  writes.track("zone-b", b.write);
  expect(writes.running("zone-a")).toBe(true);
  const all = writes.all()!;
  a.finish();
  expect(await hasSettled(all)).toBe(false);
  b.fail(new Error("refused"));
  await all;
  expect(writes.all()).toBeNull();
  expect(writes.running("zone-a")).toBe(false);
});
