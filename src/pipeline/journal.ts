/**
 * @module The challenge journal: every challenge is written (fsynced) before it is
 * published, and forgotten once removed. A daemon that died in between removes what the
 * journal still holds before its first tick, so no challenge outlives a crash. An entry
 * keeps the `[[dcv]]` section its publish used, so a reload that changed or dropped the
 * section still removes it where it was published; a removal that fails waits longer after
 * each failure (the wait kept in the entry, across restarts), so a vendor API that keeps
 * refusing is not asked at every check (issue 9: Namecheap's rate limits).
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { canRemoveMany, describeChallenge, type DcvBackend, type DcvChallenge } from "../backends/types.ts";
import type { BackendSection } from "../config/schema.ts";
import { describeError } from "../errors.ts";
import { ensureDir, fsyncDir, writeFileAtomic } from "../fsutil.ts";
import type { Logger } from "../log.ts";

/** The longest wait between two removals of one entry: a zone that stays broken is still asked a few times a day. */
export const MAX_RETRY_MS = 6 * 3600_000;

export interface JournalEntry {
  renewalId: string;
  certId: string;
  /** The `[[dcv]]` name that published these. */
  dcv: string;
  /**
   * The `[[dcv]]` section as the publish used it: type and options as parsed, a secret as its
   * `SecretRef` (never its value). Clean-up builds the backend from it when the config's section
   * has changed or is gone. Absent in entries written before it was kept.
   */
  section?: BackendSection;
  challenges: DcvChallenge[];
  /** Removals of this entry that failed so far. */
  failures?: number;
  /** ISO 8601: no removal is tried before this (set after a failure). */
  retryAt?: string;
}

/**
 * The backend that removes an entry's challenges: the configured one when the entry's section
 * is still configured as it was, else one built from the journaled section. Undefined when
 * none can (an entry without a section whose name is no longer configured).
 */
export type DcvFinder = (entry: JournalEntry) => Promise<DcvBackend | undefined>;

/** How a sweep runs. */
export interface SweepOptions {
  now: Date;
  /** The wait after a first failure (the check interval); it doubles after each failure up to `MAX_RETRY_MS`. */
  retryBaseMs: number;
  /** Renewals still running: their entries are theirs to clean. */
  skip?: ReadonlySet<string>;
}

/** How long after its `failures`-th failed removal an entry waits for the next one. */
export function retryDelayMs(failures: number, baseMs: number): number {
  return Math.min(MAX_RETRY_MS, Math.max(1_000, baseMs) * 2 ** Math.min(30, Math.max(0, failures - 1)));
}

/** Finds by name among the configured backends: entries without a section, and tests. */
export function configuredDcvs(dcvs: Map<string, DcvBackend>): DcvFinder {
  return async (entry) => dcvs.get(entry.dcv);
}

export class ChallengeJournal {
  private readonly dir: string;
  /** Entries already reported as left for the operator: said once, not at every sweep. */
  private readonly reported = new Set<string>();
  /** The last error removing each entry's challenges: a removal that keeps failing the same way is logged once. */
  private readonly failing = new Map<string, string>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, "journal");
  }

  record(entry: JournalEntry): void {
    ensureDir(this.dir, 0o700);
    writeFileAtomic(this.fileOf(entry.renewalId), JSON.stringify(entry), { mode: 0o600 });
  }

  forget(renewalId: string): void {
    rmSync(this.fileOf(renewalId), { force: true });
    fsyncDir(this.dir);
  }

  entries(): JournalEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith(".json"));
    } catch {
      return [];
    }
    const out: JournalEntry[] = [];
    for (const n of names) {
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, n), "utf8")) as JournalEntry);
      } catch {
        // A torn write never happens (atomic rename), so an unreadable file is foreign: leave it for the operator.
      }
    }
    return out;
  }

  /**
   * Removes the challenges of every entry due (its `retryAt` passed) through the DCV backend
   * that published them, the entries of one backend together (`removeMany` when it has it: one
   * read-modify-write per Namecheap domain, whatever the number of entries). An entry whose
   * removal fails stays journaled and waits longer before the next try. Returns how many
   * challenges were removed.
   */
  async recover(find: DcvFinder, log: Logger, signal: AbortSignal, opts: SweepOptions): Promise<number> {
    const groups = new Map<DcvBackend, JournalEntry[]>();
    for (const entry of this.entries()) {
      if (signal.aborted) break;
      if (opts.skip?.has(entry.renewalId)) continue;
      if (entry.retryAt !== undefined && Date.parse(entry.retryAt) > opts.now.getTime()) continue;
      let dcv: DcvBackend | undefined;
      try {
        dcv = await find(entry);
      } catch (err) {
        this.failed(entry, err, log, opts);
        continue;
      }
      if (!dcv) {
        this.reportOnce(log, `${entry.renewalId}\0${entry.dcv}`, `journal: renewal ${entry.renewalId} left challenges for dcv "${entry.dcv}", which is no longer configured; remove them by hand`);
        continue;
      }
      // A backend changed since (another type under the same name) cannot remove what it never could publish.
      const foreign = entry.challenges.filter((ch) => !dcv.supports(ch));
      if (foreign.length > 0) {
        this.reportOnce(
          log,
          `${entry.renewalId}\0${entry.dcv}\0kind`,
          `journal: renewal ${entry.renewalId} left ${foreign.map(describeChallenge).join(", ")}, which dcv "${entry.dcv}" no longer solves; kept, remove them by hand`,
        );
        continue;
      }
      const group = groups.get(dcv);
      if (group) group.push(entry);
      else groups.set(dcv, [entry]);
    }
    let removed = 0;
    for (const [dcv, entries] of groups) {
      if (signal.aborted) break;
      if (canRemoveMany(dcv)) {
        let failures;
        try {
          failures = await dcv.removeMany(entries.flatMap((e) => e.challenges), signal);
        } catch (err) {
          // Cut short by a stop or the sweep's budget: not a failure of these entries' removal.
          if (signal.aborted) break;
          failures = entries.flatMap((e) => e.challenges.map((challenge) => ({ challenge, error: err })));
        }
        const why = new Map(failures.map((f) => [f.challenge, f.error]));
        for (const e of entries) {
          const failed = e.challenges.find((ch) => why.has(ch));
          if (failed) this.failed(e, why.get(failed), log, opts);
          else removed += this.removed(e, log);
        }
        continue;
      }
      for (const e of entries) {
        try {
          for (const ch of e.challenges) await dcv.remove(ch, signal);
        } catch (err) {
          if (signal.aborted) break;
          this.failed(e, err, log, opts);
          continue;
        }
        removed += this.removed(e, log);
      }
    }
    return removed;
  }

  private removed(entry: JournalEntry, log: Logger): number {
    this.forget(entry.renewalId);
    if (this.failing.delete(entry.renewalId)) log.info(`journal: removed the challenges of renewal ${entry.renewalId} after earlier failures`);
    return entry.challenges.length;
  }

  /** The entry waits longer before its next removal; the log says so again only when the reason changes. */
  private failed(entry: JournalEntry, err: unknown, log: Logger, opts: SweepOptions): void {
    const failures = (entry.failures ?? 0) + 1;
    const retryAt = new Date(opts.now.getTime() + retryDelayMs(failures, opts.retryBaseMs));
    this.record({ ...entry, failures, retryAt: retryAt.toISOString() });
    const why = describeError(err);
    const before = this.failing.get(entry.renewalId);
    this.failing.set(entry.renewalId, why);
    if (why === before) log.debug(`journal: still cannot remove challenges of renewal ${entry.renewalId} (${failures} tries; next at ${retryAt.toISOString()}): ${why}`);
    else log.error(`journal: cannot remove challenges of renewal ${entry.renewalId} (tried again later, waiting twice as long after each failure, up to 6 h): ${why}`);
  }

  private reportOnce(log: Logger, problem: string, message: string): void {
    if (this.reported.has(problem)) return;
    this.reported.add(problem);
    log.warn(message);
  }

  private fileOf(renewalId: string): string {
    return join(this.dir, `${renewalId.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);
  }
}
