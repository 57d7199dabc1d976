/**
 * @module A binary min-heap of (cert id, epoch ms) for the moment timer: the earliest moment
 * in O(1), a push or pop in O(log n), where a walk over every cert's moment after each
 * renewal made a first issuance of 10,000 quadratic (issue 11). Two parallel arrays, not an
 * object per entry: one per cert is held for as long as the daemon runs.
 */
export class MomentHeap {
  private readonly ids: string[] = [];
  private readonly ats: number[] = [];

  get size(): number {
    return this.ats.length;
  }

  /** The earliest entry's time; undefined when empty. */
  topAt(): number | undefined {
    return this.ats[0];
  }

  /** The earliest entry's cert id; undefined when empty. */
  topId(): string | undefined {
    return this.ids[0];
  }

  push(id: string, at: number): void {
    this.ids.push(id);
    this.ats.push(at);
    this.up(this.ats.length - 1);
  }

  /** Removes the earliest entry. */
  pop(): void {
    const last = this.ats.length - 1;
    if (last < 0) return;
    this.move(last, 0);
    this.ids.pop();
    this.ats.pop();
    if (last > 0) this.down(0);
  }

  /** Empties it and holds exactly `entries`, in O(n). */
  reset(entries: Iterable<[string, number]>): void {
    this.ids.length = 0;
    this.ats.length = 0;
    for (const [id, at] of entries) {
      this.ids.push(id);
      this.ats.push(at);
    }
    for (let i = (this.ats.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private up(i: number): void {
    const id = this.ids[i]!;
    const at = this.ats[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.ats[parent]! <= at) break;
      this.move(parent, i);
      i = parent;
    }
    this.ids[i] = id;
    this.ats[i] = at;
  }

  private down(i: number): void {
    const n = this.ats.length;
    const id = this.ids[i]!;
    const at = this.ats[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.ats[child + 1]! < this.ats[child]!) child++;
      if (this.ats[child]! >= at) break;
      this.move(child, i);
      i = child;
    }
    this.ids[i] = id;
    this.ats[i] = at;
  }

  private move(from: number, to: number): void {
    this.ids[to] = this.ids[from]!;
    this.ats[to] = this.ats[from]!;
  }
}
