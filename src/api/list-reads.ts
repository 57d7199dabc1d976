/**
 * @module The full cert list's two store reads, kept while the store says nothing was
 * written: at 10,000 certs reading every cert's latest renewal and failure state was most of
 * an unchanged list's cost (issue 11), while an idle daemon writes nothing between requests.
 */
import type { WatchedCert } from "../pipeline/runtime.ts";
import { hasChangeStamp, type AuditStore, type CertState, type RenewalHead } from "../store/types.ts";

export interface ListStoreReads {
  /** Each watched cert's latest renewal, by cert id. */
  latest: Map<string, RenewalHead>;
  /** Every cert's failure state, by cert id. */
  states: Map<string, CertState>;
}

/**
 * The last reads, and the store's change stamp (`ChangeStamped`) taken before them: handed
 * out again while the stamp is the same and the watched certs are the same array (a reload
 * makes a new one). A store without a stamp is read at every call.
 */
export class ListReads {
  private last: { stamp: string; certs: readonly WatchedCert[]; reads: ListStoreReads } | null = null;

  async read(store: AuditStore, certs: readonly WatchedCert[]): Promise<ListStoreReads> {
    // Taken before the reads: a write that lands between them moves the next stamp, and they are read again.
    const stamp = hasChangeStamp(store) ? await store.changeStamp() : null;
    if (stamp !== null && this.last?.stamp === stamp && this.last.certs === certs) return this.last.reads;
    // Every cert's state: the whole table is one scan, cheaper than a lookup per id (states of certs no longer configured are never asked for).
    const [latest, states] = await Promise.all([store.latestRenewals(certs.map((c) => c.config.id)), store.certStates()]);
    const reads = { latest, states };
    this.last = stamp === null ? null : { stamp, certs, reads };
    return reads;
  }
}
