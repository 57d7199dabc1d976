/**
 * @module The full cert list's rows as JSON text, each kept until something it is made of
 * changes: at 10,000 certs building and serializing every row took most of a list request
 * (issue 11), while between two sweeps almost none of them changes.
 */
import type { CertLook } from "../scheduler/scheduler.ts";
import type { CertState, RenewalHead } from "../store/types.ts";
import { certJson, rowExpiry, type CertViewInput } from "./cert-view.ts";

interface Row {
  input: CertViewInput;
  /** The install targets' types when it was built (a reload may change a section's type). */
  types: (string | undefined)[];
  /** From then on `now` changes the row (a day left, a cooldown or a moment past), in ms. */
  expiresAt: number;
  json: string;
}

/**
 * Rows by cert id. A row is rebuilt when its cert's config, look, failure state, latest
 * renewal, busy flag, the next sweep's time or a target's type differ from those it was built
 * from, or once `now` has reached a moment its text depends on; otherwise the text is reused.
 * Each row it returns is the same text `JSON.stringify(certJson(input))` gives at that moment.
 */
export class CertRows {
  private readonly rows = new Map<string, Row>();
  /** The last array built, and the ids of its rows in order: reused whole while no row changes. */
  private last: { ids: string[]; text: string } | null = null;
  private rebuilt = false;

  /** The cert's row as JSON text. */
  row(input: CertViewInput): string {
    const types = input.install.map(input.typeOf);
    const have = this.rows.get(input.id);
    if (have && input.now.getTime() < have.expiresAt && sameInput(have.input, input) && sameList(have.types, types)) {
      // The newer objects, so that the next comparison starts from identity again.
      have.input = input;
      return have.json;
    }
    this.rebuilt = true;
    const json = JSON.stringify(certJson(input));
    this.rows.set(input.id, { input, types, expiresAt: rowExpiry(input), json });
    return json;
  }

  /** The rows of `inputs` as one JSON array: the last one's text when the same certs, in the same order, all kept their rows. */
  list(inputs: readonly CertViewInput[]): string {
    const ids = inputs.map((i) => i.id);
    this.keepOnly(ids);
    this.rebuilt = false;
    const rows = inputs.map((i) => this.row(i));
    if (!this.rebuilt && this.last && sameList(this.last.ids, ids)) return this.last.text;
    this.last = { ids, text: `[${rows.join(",")}]` };
    return this.last.text;
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

  get size(): number {
    return this.rows.size;
  }
}

/**
 * Whether two inputs give the same row at the same moment: every field `certJson` reads,
 * `now` and `typeOf` apart (the caller checks those). A field certJson starts to read must
 * be compared here too; cert-rows.test.ts varies each one and compares with certJson.
 */
export function sameInput(a: CertViewInput, b: CertViewInput): boolean {
  return (
    a.id === b.id &&
    a.busy === b.busy &&
    sameTime(a.nextTick, b.nextTick) &&
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

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a === b || (a.length === b.length && a.every((x, i) => x === b[i]));
}
