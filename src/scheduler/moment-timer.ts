/**
 * @module The scheduler's one extra timer (issue 12 §2): each cert's next own moment (its
 * renewal moment, its next ARI poll, its cooldown's end), and a single timer for the
 * earliest still ahead, at least 1 s out and at most what a timer holds. A moment already
 * past never arms it: such a cert is looked at by sweeps, not every second.
 * The moments are also kept in a heap, so that arming after each renewal costs O(log n),
 * not a walk over every cert's (issue 11); a moment replaced or forgotten leaves its heap
 * entry behind, skipped when it comes to the top, and the heap is rebuilt once such
 * entries outnumber the live ones.
 */
import type { Cancel, Clock } from "../clock.ts";
import { MomentHeap } from "./moment-heap.ts";

/** setTimeout holds at most 2^31-1 ms; beyond it Bun fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Never sooner than this: moments a hair apart share one look. */
const MIN_TIMER_MS = 1_000;
/** Dead heap entries tolerated beyond the live ones before the heap is rebuilt. */
const SLACK = 1_024;

export class MomentTimer {
  /** Epoch ms per cert id; only moments ahead when noted. */
  private readonly moments = new Map<string, number>();
  /** Every moment of `moments`, and dead entries: one is live while `moments` holds the same time for its cert. */
  private readonly heap = new MomentHeap();
  private cancel: Cancel = () => {};

  /** `come` gets the certs whose moment came when the timer fires. */
  constructor(
    private readonly clock: Clock,
    private readonly come: (certIds: string[]) => void,
  ) {}

  /** Replaces the cert's moment (null: none ahead). */
  set(certId: string, at: Date | null): void {
    // The same moment again (every look at a settled fleet): nothing to record.
    if (at && this.moments.get(certId) === at.getTime() && at.getTime() > this.clock.now().getTime()) return;
    this.moments.delete(certId);
    if (at) this.note(certId, at);
  }

  /** Records `at` for the cert when it is ahead and sooner than the one it has. */
  note(certId: string, at: Date): void {
    const have = this.moments.get(certId);
    const t = at.getTime();
    if (t > this.clock.now().getTime() && (have === undefined || t < have)) {
      this.moments.set(certId, t);
      this.heap.push(certId, t);
      if (this.heap.size > 2 * this.moments.size + SLACK) this.heap.reset(this.moments);
    }
  }

  /** Forgets the certs `keep` does not hold. */
  retain(keep: (certId: string) => boolean): void {
    for (const id of this.moments.keys()) if (!keep(id)) this.moments.delete(id);
    this.heap.reset(this.moments);
  }

  /** Arms the timer for the earliest moment ahead, or none. */
  arm(): void {
    this.cancel();
    const now = this.clock.now().getTime();
    // Moments already past are forgotten, as dead entries are: both are at the top.
    for (let at = this.heap.topAt(); at !== undefined; at = this.heap.topAt()) {
      const id = this.heap.topId()!;
      const live = this.moments.get(id) === at;
      if (live && at > now) break;
      if (live) this.moments.delete(id);
      this.heap.pop();
    }
    const earliest = this.heap.topAt();
    if (earliest === undefined) return;
    this.cancel = this.clock.setTimeout(() => {
      const come = this.due(this.clock.now().getTime());
      // A clock stepped back finds nothing come: the timer is armed again for the same moments.
      if (come.length > 0) this.come(come);
      else this.arm();
    }, Math.min(MAX_TIMER_MS, Math.max(MIN_TIMER_MS, earliest - now)));
  }

  stop(): void {
    this.cancel();
  }

  /** Takes out the certs whose moment is at or before `at`. */
  private due(at: number): string[] {
    const come: string[] = [];
    for (let t = this.heap.topAt(); t !== undefined && t <= at; t = this.heap.topAt()) {
      const id = this.heap.topId()!;
      if (this.moments.get(id) === t) {
        come.push(id);
        this.moments.delete(id);
      }
      this.heap.pop();
    }
    return come;
  }
}
