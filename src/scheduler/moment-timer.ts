/**
 * @module The scheduler's one extra timer (issue 12 §2): each cert's next own moment (its
 * renewal moment, its next ARI poll, its cooldown's end), and a single timer for the
 * earliest still ahead, at least 1 s out and at most what a timer holds. A moment already
 * past never arms it: such a cert is looked at by sweeps, not every second.
 */
import type { Cancel, Clock } from "../clock.ts";

/** setTimeout holds at most 2^31-1 ms; beyond it Bun fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Never sooner than this: moments a hair apart share one look. */
const MIN_TIMER_MS = 1_000;

export class MomentTimer {
  /** Epoch ms per cert id; only moments ahead when noted. */
  private readonly moments = new Map<string, number>();
  private cancel: Cancel = () => {};

  /** `come` gets the certs whose moment came when the timer fires. */
  constructor(
    private readonly clock: Clock,
    private readonly come: (certIds: string[]) => void,
  ) {}

  /** Replaces the cert's moment (null: none ahead). */
  set(certId: string, at: Date | null): void {
    this.moments.delete(certId);
    if (at) this.note(certId, at);
  }

  /** Records `at` for the cert when it is ahead and sooner than the one it has. */
  note(certId: string, at: Date): void {
    const have = this.moments.get(certId);
    const t = at.getTime();
    if (t > this.clock.now().getTime() && (have === undefined || t < have)) this.moments.set(certId, t);
  }

  /** Forgets the certs `keep` does not hold. */
  retain(keep: (certId: string) => boolean): void {
    for (const id of this.moments.keys()) if (!keep(id)) this.moments.delete(id);
  }

  /** Arms the timer for the earliest moment ahead, or none. */
  arm(): void {
    this.cancel();
    const now = this.clock.now().getTime();
    let earliest = Number.POSITIVE_INFINITY;
    for (const [id, at] of this.moments) {
      if (at <= now) this.moments.delete(id);
      else if (at < earliest) earliest = at;
    }
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.cancel = this.clock.setTimeout(() => {
      const at = this.clock.now().getTime();
      const come = [...this.moments].filter(([, m]) => m <= at).map(([id]) => id);
      for (const id of come) this.moments.delete(id);
      // A clock stepped back finds nothing come: the timer is armed again for the same moments.
      if (come.length > 0) this.come(come);
      else this.arm();
    }, Math.min(MAX_TIMER_MS, Math.max(MIN_TIMER_MS, earliest - now)));
  }

  stop(): void {
    this.cancel();
  }
}
