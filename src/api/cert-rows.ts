/**
 * @module The full cert list's rows as JSON text, each kept until something it is made of
 * changes: at 10,000 certs building and serializing every row took most of a list request
 * (issue 11), while between two sweeps almost none of them changes. The two values that
 * move for every cert with time alone, `days_left` (every 864 s) and `next_check` (the next
 * sweep's time, at every sweep), are kept apart from the text and put in at each request,
 * so that neither a sweep nor the hours passing rebuild a row.
 */
import type { NodeInstallFailure } from "../cluster/types.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import type { CertState, RenewalHead } from "../store/types.ts";
import { certJson, daysLeftAt, daysLeftUntil, momentsExpiry, nextCheckAt, nextCheckOwn, type CertViewInput, type OwnNextCheck } from "./cert-view.ts";
import type { CertSource } from "./ports.ts";

interface Row {
  input: CertViewInput;
  /** The install targets' types when it was built (a reload may change a section's type). */
  types: (string | undefined)[];
  /** From then on `now` changes the row's text (a cooldown or a moment past), in ms. */
  expiresAt: number;
  /** The row's text before `days_left`'s value, between it and `next_check`'s, and after that. */
  head: string;
  middle: string;
  tail: string;
  /** `days_left`'s value as JSON, and from when (ms) it may differ. */
  days: string;
  daysUntil: number;
  /** `next_check` but for the next sweep, and `own.at` as JSON. */
  own: OwnNextCheck;
  ownJson: string;
  /** `next_check`'s value as JSON, as last put in. */
  next: string;
}

/**
 * What the last array was made of besides its rows, for `again`: the caller's sources (the
 * watched certs, the store's reads) and each cert's look, busy flag and install failure, all compared by
 * identity, and the rows it was built from, valid until `until` (ms: the soonest moment one
 * of them depends on).
 */
interface Made {
  sources: readonly object[];
  looks: (CertLook | undefined)[];
  busy: boolean[];
  failures: (NodeInstallFailure | null)[];
  rows: Row[];
  until: number;
}

/**
 * Rows by cert id. A row is rebuilt when its cert's config, look, failure state, latest
 * renewal, busy flag or a target's type differ from those it was built from, or once `now`
 * has passed a moment its text depends on; otherwise the text is reused, with `days_left`
 * and `next_check` put in as they are at that moment (a new next sweep, a day's hundredth
 * gone by). Each row it returns is the same text `JSON.stringify(certJson(input))` gives then.
 */
export class CertRows {
  private readonly rows = new Map<string, Row>();
  /** The last array built, and the ids of its rows in order: reused whole while no row changes. */
  private last: { ids: string[]; text: string; made: Made | null } | null = null;
  /** Whether a row was rebuilt, or a value put in changed, since the last array was built. */
  private changed = false;
  /** The last next sweep's time seen, and its value as JSON: one text for every row. */
  private tick: { at: Date; json: string } | null = null;
  private built = 0;

  /** The cert's row as JSON text. */
  row(input: CertViewInput): string {
    const r = this.current(input);
    return r.head + r.days + r.middle + r.next + r.tail;
  }

  /**
   * The rows of `inputs` as one JSON array: the last one's text when the same certs, in the same order, all kept their text.
   * `sources`: what the inputs were read from besides each cert's look and busy flag, whose
   * identity means the same inputs (the watched certs, the store's reads), for `again`.
   */
  list(inputs: readonly CertViewInput[], sources?: readonly object[]): string {
    const ids = inputs.map((i) => i.id);
    this.keepOnly(ids);
    const rows = inputs.map((i) => this.current(i));
    const made = sources ? madeOf(sources, inputs, rows) : null;
    if (!this.changed && this.last && sameList(this.last.ids, ids)) {
      this.last.made = made;
      return this.last.text;
    }
    this.changed = false;
    this.last = { ids, text: arrayText(rows), made };
    return this.last.text;
  }

  /**
   * The last array again without inputs, when nothing but time and the next sweep's time
   * changed since: the same `sources` as the last `list`, each cert's look and busy flag
   * (asked of `certs`) the same objects, and no row's moment passed. `days_left` and
   * `next_check` are put in as they are at `now`. Null otherwise: the caller builds the
   * inputs and calls `list`. At 10,000 certs building the inputs and comparing them row by
   * row was most of an unchanged list's CPU (issue 11).
   */
  again(sources: readonly object[], now: Date, nextTick: Date | null, certs: Pick<CertSource, "look" | "busy" | "installFailure">): string | null {
    const last = this.last;
    const made = last?.made;
    if (!last || !made || !sameList(made.sources, sources) || now.getTime() >= made.until) return null;
    for (let n = 0; n < last.ids.length; n++) {
      const id = last.ids[n]!;
      if (certs.look(id) !== made.looks[n] || certs.busy(id) !== made.busy[n] || certs.installFailure(id) !== made.failures[n]) return null;
    }
    for (const r of made.rows) this.put(r, now, nextTick);
    if (!this.changed) return last.text;
    this.changed = false;
    last.text = arrayText(made.rows);
    return last.text;
  }

  /** The cert's row, rebuilt if its text is out of date, with both moving values as they are at `input.now`. */
  private current(input: CertViewInput): Row {
    let r = this.rows.get(input.id);
    if (r && input.now.getTime() < r.expiresAt && sameInput(r.input, input) && sameTypes(r.types, input)) {
      // The newer objects, so that the next comparison starts from identity again.
      r.input = input;
    } else {
      r = build(input);
      this.built++;
      this.changed = true;
      this.rows.set(input.id, r);
    }
    this.put(r, input.now, input.nextTick);
    return r;
  }

  /** Puts in `days_left` and `next_check` as they are at `now`, with the next sweep at `nextTick`. */
  private put(r: Row, now: Date, nextTick: Date | null): void {
    if (now.getTime() >= r.daysUntil) this.days(r, now);
    const at = nextCheckAt(r.own, nextTick);
    const next = at === r.own.at ? r.ownJson : this.tickJson(at!);
    if (next !== r.next) {
      r.next = next;
      this.changed = true;
    }
  }

  /** Puts in `days_left` as it is at `now`. */
  private days(r: Row, now: Date): void {
    const notAfter = r.input.look?.decision?.notAfter;
    if (!notAfter) return;
    const days = JSON.stringify(daysLeftAt(notAfter, now));
    r.daysUntil = daysLeftUntil(notAfter, now);
    if (days === r.days) return;
    r.days = days;
    this.changed = true;
  }

  private tickJson(at: Date): string {
    if (this.tick?.at.getTime() !== at.getTime()) this.tick = { at, json: JSON.stringify(at.toISOString()) };
    return this.tick.json;
  }

  /**
   * Forgets the rows of certs no longer watched (a reload removed them), once there are more
   * rows than `ids`. A row kept meanwhile is never wrong, only unused: rows are found by id
   * and checked against what they were built from.
   */
  keepOnly(ids: readonly string[]): void {
    if (this.rows.size <= ids.length) return;
    const keep = new Set(ids);
    for (const id of this.rows.keys()) if (!keep.has(id)) this.rows.delete(id);
  }

  /** How many rows were built (serialized) since this was made. */
  get builds(): number {
    return this.built;
  }

  get size(): number {
    return this.rows.size;
  }
}

/**
 * The rows as one JSON array. Appended piece by piece, a rope that is copied once when read:
 * half the CPU of a join of the pieces, which in Bun costs more per element than it saves
 * (measured at 10,000 rows). Then each row's pieces are made slices of that text: a slice
 * keeps the text it was cut from, so the rows would otherwise keep each its own first
 * serialization beside the array's copy, the list's size twice over (6.8 MB more at 10,000
 * certs, issue 11). Slices of the array the caller keeps anyway cost only their cells.
 */
function arrayText(rows: readonly Row[]): string {
  let text = "[";
  for (let n = 0; n < rows.length; n++) {
    const r = rows[n]!;
    text += (n === 0 ? "" : ",") + r.head + r.days + r.middle + r.next + r.tail;
  }
  text += "]";
  let at = 1;
  const cut = (piece: string) => text.slice(at, (at += piece.length));
  for (let n = 0; n < rows.length; n++) {
    const r = rows[n]!;
    if (n > 0) at++;
    r.head = cut(r.head);
    r.days = cut(r.days);
    r.middle = cut(r.middle);
    r.next = cut(r.next);
    r.tail = cut(r.tail);
  }
  return text;
}

/**
 * What `again` needs to know the array is still this one; null while a cert has no look yet,
 * so that the caller waits for first looks (`firstLooks`) as it does without `again`.
 */
function madeOf(sources: readonly object[], inputs: readonly CertViewInput[], rows: Row[]): Made | null {
  const looks = inputs.map((i) => i.look);
  if (looks.includes(undefined)) return null;
  let until = Number.POSITIVE_INFINITY;
  for (const r of rows) until = Math.min(until, r.expiresAt);
  return { sources, looks, busy: inputs.map((i) => i.busy), failures: inputs.map((i) => i.nodeFailure), rows, until };
}

/**
 * The row's text cut around its two moving values. A key's quotes are never escaped and a
 * quote inside a JSON string always is, so `"days_left":` and `"next_check":` are found only
 * as keys; both are top-level keys that come before any nested object with keys of its own,
 * and neither value (a number, an ISO time, null) holds a comma.
 */
function build(input: CertViewInput): Row {
  const json = JSON.stringify(certJson(input));
  const daysAt = json.indexOf(DAYS_KEY) + DAYS_KEY.length;
  const daysEnd = json.indexOf(",", daysAt);
  const nextAt = json.indexOf(NEXT_KEY, daysEnd) + NEXT_KEY.length;
  const nextEnd = json.indexOf(",", nextAt);
  const own = nextCheckOwn(input);
  const notAfter = input.look?.decision?.notAfter;
  return {
    input,
    types: input.install.map(input.typeOf),
    expiresAt: momentsExpiry(input),
    head: json.slice(0, daysAt),
    middle: json.slice(daysEnd, nextAt),
    tail: json.slice(nextEnd),
    days: json.slice(daysAt, daysEnd),
    daysUntil: notAfter ? daysLeftUntil(notAfter, input.now) : Number.POSITIVE_INFINITY,
    own,
    ownJson: JSON.stringify(own.at),
    next: json.slice(nextAt, nextEnd),
  };
}

const DAYS_KEY = '"days_left":';
const NEXT_KEY = '"next_check":';

/**
 * Whether two inputs give the same row at the same moment: every field `certJson` reads,
 * `now`, `nextTick` and `typeOf` apart (the caller checks those, or puts them in). A field certJson starts to read must
 * be compared here too; cert-rows.test.ts varies each one and compares with certJson.
 */
export function sameInput(a: CertViewInput, b: CertViewInput): boolean {
  return (
    a.id === b.id &&
    a.busy === b.busy &&
    // A new object at every change (InstallSyncTask's backoff), the same one until then.
    a.nodeFailure === b.nodeFailure &&
    sameList(a.domains, b.domains) &&
    sameList(a.install, b.install) &&
    sameLook(a.look, b.look) &&
    sameState(a.state, b.state) &&
    sameLast(a.last, b.last)
  );
}

function sameLook(a: CertLook | undefined, b: CertLook | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const da = a.decision;
  const db = b.decision;
  const decisions =
    da === db ||
    (da !== null && db !== null && da.action === db.action && da.why === db.why && sameTime(da.notAfter, db.notAfter) && sameTime(da.moment?.at, db.moment?.at));
  return (
    decisions &&
    a.error === b.error &&
    a.latestSerial === b.latestSerial &&
    sameTime(a.dueSince, b.dueSince) &&
    sameTime(a.ari?.window?.start, b.ari?.window?.start) &&
    sameTime(a.ari?.window?.end, b.ari?.window?.end) &&
    sameTime(a.ari?.nextPollAt, b.ari?.nextPollAt) &&
    a.targets.length === b.targets.length &&
    a.targets.every((t, i) => {
      const u = b.targets[i]!;
      return (
        t.target === u.target &&
        t.error === u.error &&
        t.damaged === u.damaged &&
        t.unverified === u.unverified &&
        t.installed?.serial === u.installed?.serial &&
        sameTime(t.installed?.notAfter, u.installed?.notAfter)
      );
    })
  );
}

function sameState(a: CertState | null, b: CertState | null): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.consecutiveFailures === b.consecutiveFailures && sameTime(a.retryAt, b.retryAt) && sameTime(a.haltedAt, b.haltedAt);
}

function sameLast(a: RenewalHead | undefined, b: RenewalHead | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.id === b.id && a.trigger === b.trigger && a.status === b.status && a.error === b.error && sameTime(a.startedAt, b.startedAt) && sameTime(a.finishedAt, b.finishedAt);
}

function sameTime(a: Date | null | undefined, b: Date | null | undefined): boolean {
  return a === b || (a instanceof Date && b instanceof Date && a.getTime() === b.getTime()) || ((a ?? null) === null && (b ?? null) === null);
}

/** Whether `input`'s targets have the `types` a row was built with (sameInput compared the names). */
function sameTypes(types: readonly (string | undefined)[], input: CertViewInput): boolean {
  return types.every((t, i) => t === input.typeOf(input.install[i]!));
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a === b || (a.length === b.length && a.every((x, i) => x === b[i]));
}
