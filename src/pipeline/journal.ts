/**
 * @module The challenge journal: every challenge is written (fsynced) before it is
 * published, and forgotten once removed. A daemon that died in between removes what the
 * journal still holds before its first tick, so no challenge outlives a crash.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describeChallenge, type DcvBackend, type DcvChallenge } from "../backends/types.ts";
import { describeError } from "../errors.ts";
import { ensureDir, fsyncDir, writeFileAtomic } from "../fsutil.ts";
import type { Logger } from "../log.ts";

export interface JournalEntry {
  renewalId: string;
  certId: string;
  /** The `[[dcv]]` name that published these. */
  dcv: string;
  challenges: DcvChallenge[];
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
   * Removes every journaled challenge through the DCV backend that published it. An entry
   * whose removal fails stays journaled and is tried again at the next start.
   */
  async recover(dcvs: Map<string, DcvBackend>, log: Logger, signal: AbortSignal, skip: ReadonlySet<string> = new Set()): Promise<number> {
    let removed = 0;
    for (const entry of this.entries()) {
      if (signal.aborted) break;
      if (skip.has(entry.renewalId)) continue;
      const dcv = dcvs.get(entry.dcv);
      if (!dcv) {
        const problem = `${entry.renewalId}\0${entry.dcv}`;
        if (this.reported.has(problem)) continue;
        this.reported.add(problem);
        log.warn(`journal: renewal ${entry.renewalId} left challenges for dcv "${entry.dcv}", which is no longer configured; remove them by hand`);
        continue;
      }
      // A backend changed since (another type under the same name) cannot remove what it never could publish.
      const foreign = entry.challenges.filter((ch) => !dcv.supports(ch));
      if (foreign.length > 0) {
        const problem = `${entry.renewalId}\0${entry.dcv}\0kind`;
        if (this.reported.has(problem)) continue;
        this.reported.add(problem);
        log.warn(`journal: renewal ${entry.renewalId} left ${foreign.map(describeChallenge).join(", ")}, which dcv "${entry.dcv}" no longer solves; kept, remove them by hand`);
        continue;
      }
      const failing = this.failing.get(entry.renewalId);
      try {
        for (const ch of entry.challenges) await dcv.remove(ch, signal);
        this.forget(entry.renewalId);
        removed += entry.challenges.length;
        if (failing !== undefined) {
          this.failing.delete(entry.renewalId);
          log.info(`journal: removed the challenges of renewal ${entry.renewalId} after earlier failures`);
        }
      } catch (err) {
        // Cut short by a stop or the sweep's budget: not a failure of this entry's removal.
        if (signal.aborted) break;
        // Tried again at every sweep; the log says it again only when the reason changes.
        const why = describeError(err);
        this.failing.set(entry.renewalId, why);
        if (why === failing) log.debug(`journal: still cannot remove challenges of renewal ${entry.renewalId}: ${why}`);
        else log.error(`journal: cannot remove challenges of renewal ${entry.renewalId} (tried again at each check): ${why}`);
      }
    }
    return removed;
  }

  private fileOf(renewalId: string): string {
    return join(this.dir, `${renewalId.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);
  }
}
