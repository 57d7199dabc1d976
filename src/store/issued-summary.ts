/**
 * @module The summary columns of an issued certificate: what a scheduler tick compares
 * (key type and names, beside serial and validity), parsed once when the certificate is
 * saved so that no tick reads or parses a PEM from the store.
 */
import { summarizeCert, type CertSummary } from "../crypto/summary.ts";
import type { KeyType } from "../crypto/keys.ts";

/** The row's `key_type` and `names` (a JSON array); both null for a leaf that cannot be parsed. */
export function summaryColumns(leafPem: string): { keyType: string | null; names: string | null } {
  try {
    const s = summarizeCert(leafPem);
    // A kind rota does not issue is stored as "" so that NULL keeps meaning "cannot be parsed".
    return { keyType: s.keyType ?? "", names: JSON.stringify(s.names) };
  } catch {
    return { keyType: null, names: null };
  }
}

export interface SummaryRecord {
  serial: string;
  not_before: number;
  not_after: number;
  key_type: string | null;
  names: string | null;
}

/** The certificate's summary from its row; null when its leaf could not be parsed. */
export function summaryOf(row: SummaryRecord): CertSummary | null {
  if (row.key_type === null || row.names === null) return null;
  return {
    serial: row.serial,
    notBefore: new Date(row.not_before),
    notAfter: new Date(row.not_after),
    keyType: row.key_type === "" ? null : (row.key_type as KeyType),
    names: JSON.parse(row.names) as string[],
  };
}
