/**
 * @module The audit trail's writes as values (a renewal's rows, and cluster mode's events),
 * and what a buffering store keeps of them during an outage: an in-memory FIFO bounded by `buffer_max_writes`, whose overflow rule
 * is a pure function (`admit`), and the spool file a store that closes mid-outage leaves
 * for the next start.
 */
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import type { StepName, StepStatus, Trigger } from "../events.ts";
import type { RenewalStatus, StepEvent } from "./types.ts";

export type AuditWrite =
  | { kind: "open"; renewalId: string; certId: string; trigger: Trigger; installOnly: boolean; reason: string | null; startedAt: Date }
  /** `seq` is counted by the store that accepted the write, so sending it again lands on the same record. */
  | { kind: "step"; renewalId: string; seq: number; event: StepEvent }
  | { kind: "close"; renewalId: string; status: Exclude<RenewalStatus, "running">; finishedAt: Date; error: string | null }
  | { kind: "cluster_event"; event: ClusterEventRecord };

/**
 * A `cluster_event` row: a `cluster.*` event as `GET /api/cluster` lists it. `id` is made
 * once, when the event happens, so a resend after a timeout lands on the same record.
 */
export interface ClusterEventRecord {
  id: string;
  at: Date;
  nodeId: string;
  /** `leader_acquired` | `leader_lost` | `install_refused`. */
  type: string;
  term: number | null;
  certId: string | null;
  serial: string | null;
  detail: string;
}

/** The renewal a write belongs to; null for a cluster event. */
export function renewalOfWrite(w: AuditWrite): string | null {
  return w.kind === "cluster_event" ? null : w.renewalId;
}

/** Whether `incoming` joins the buffer, and which buffered write (by index) it pushes out. */
export type Admission = { accept: true; evict: number | null } | { accept: false };

/**
 * The overflow rule. Below `max`, every write joins. At `max`, a step is dropped; an open,
 * a close or a cluster event pushes out the oldest buffered step (a renewal without some of
 * its steps still reads as started and finished); with no step left to push out, it is
 * dropped. Every write of a renewal whose open was dropped is dropped too: it has no row to land on.
 */
export function admit(buffered: readonly AuditWrite[], incoming: AuditWrite, max: number, droppedOpens: ReadonlySet<string>): Admission {
  const renewal = renewalOfWrite(incoming);
  if (renewal !== null && droppedOpens.has(renewal)) return { accept: false };
  if (buffered.length < max) return { accept: true, evict: null };
  if (incoming.kind === "step") return { accept: false };
  const oldestStep = buffered.findIndex((w) => w.kind === "step");
  return oldestStep === -1 ? { accept: false } : { accept: true, evict: oldestStep };
}

/** The FIFO of one outage, with what it dropped. */
export class WriteBuffer {
  readonly items: AuditWrite[] = [];
  private readonly droppedOpens = new Set<string>();
  /** Since the store opened. */
  droppedTotal = 0;
  /** Since the outage began (reset by `endOutage`). */
  droppedNow = 0;

  constructor(readonly max: number) {}

  push(w: AuditWrite): void {
    const a = admit(this.items, w, this.max, this.droppedOpens);
    if (!a.accept) {
      if (w.kind === "open") this.droppedOpens.add(w.renewalId);
      if (w.kind === "close") this.droppedOpens.delete(w.renewalId);
      this.drop();
      return;
    }
    if (a.evict !== null) {
      this.items.splice(a.evict, 1);
      this.drop();
    }
    this.items.push(w);
  }

  /**
   * Whether `w` belongs to a renewal whose open was dropped: then it is dropped too, after the
   * outage as during it, until that renewal's close (its rows would have no renewal to land
   * on, and no prune would ever find them). Counted in the total only: the outage has ended.
   */
  orphaned(w: AuditWrite): boolean {
    if (w.kind === "cluster_event" || !this.droppedOpens.has(w.renewalId)) return false;
    if (w.kind === "close") this.droppedOpens.delete(w.renewalId);
    this.droppedTotal++;
    return true;
  }

  /** A buffered write given up for good (the server refused it): counted as dropped. */
  drop(): void {
    this.droppedTotal++;
    this.droppedNow++;
  }

  /** The number dropped in the outage that just ended. */
  endOutage(): number {
    const n = this.droppedNow;
    this.droppedNow = 0;
    return n;
  }
}

type Wire = Record<string, unknown>;

function toWire(w: AuditWrite): Wire {
  if (w.kind === "open") return { ...w, startedAt: w.startedAt.toISOString() };
  if (w.kind === "close") return { ...w, finishedAt: w.finishedAt.toISOString() };
  if (w.kind === "cluster_event") return { ...w, event: { ...w.event, at: w.event.at.toISOString() } };
  return { ...w, event: { ...w.event, at: w.event.at.toISOString() } };
}

function fromWire(o: Wire): AuditWrite | null {
  if (o.kind === "open") return { ...(o as Extract<AuditWrite, { kind: "open" }>), startedAt: new Date(o.startedAt as string) };
  if (o.kind === "close") return { ...(o as Extract<AuditWrite, { kind: "close" }>), finishedAt: new Date(o.finishedAt as string) };
  if (o.kind === "cluster_event") {
    const e = o.event as Omit<ClusterEventRecord, "at"> & { at: string };
    return { kind: "cluster_event", event: { ...e, at: new Date(e.at) } };
  }
  if (o.kind === "step") {
    const e = o.event as { step: StepName; at: string; status: StepStatus; message: string; durationMs: number };
    return { kind: "step", renewalId: o.renewalId as string, seq: o.seq as number, event: { ...e, at: new Date(e.at) } };
  }
  return null;
}

/** Appends `writes` to the spool, readable by its owner only, and on disk before this returns. */
export function appendSpool(path: string, writes: readonly AuditWrite[]): void {
  const fd = openSync(path, "a", 0o600);
  try {
    // The mode above applies only to a file this call creates.
    fchmodSync(fd, 0o600);
    writeSync(fd, writes.map((w) => `${JSON.stringify(toWire(w))}\n`).join(""));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The spooled writes in order; a line cut short by a crash is skipped. Empty when there is no spool. */
export function readSpool(path: string): AuditWrite[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: AuditWrite[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const w = fromWire(JSON.parse(line) as Wire);
      if (w) out.push(w);
    } catch {
      // A partial last line: what it held was never acknowledged as stored.
    }
  }
  return out;
}

export function removeSpool(path: string): void {
  rmSync(path, { force: true });
}
