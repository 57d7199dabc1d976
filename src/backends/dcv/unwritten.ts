/**
 * @module A publish that failed before it sent any write: its challenge was never published,
 * so the pipeline journals nothing for it and nobody asks the vendor to remove it. Without
 * this, a Namecheap account off its API allow-list got one more journal entry per failed
 * renewal, and a getHosts for each at every sweep (issue 9: one getHosts+setHosts per change,
 * never a polling loop). Only a failure provably before the first write request is marked: a
 * write sent and then unanswered, late or broken may have been carried out all the same.
 */

const unwritten = new WeakSet<object>();

/** Marks `err` (thrown by a publish) as thrown before any write was sent; returns it. */
export function markUnwritten<E>(err: E): E {
  if (typeof err === "object" && err !== null) unwritten.add(err);
  return err;
}

/** Whether the publish that threw `err` provably wrote nothing. */
export function wroteNothing(err: unknown): boolean {
  return typeof err === "object" && err !== null && unwritten.has(err);
}
