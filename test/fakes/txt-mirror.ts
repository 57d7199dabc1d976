/**
 * @module Where a fake DNS API's TXT records are also served over DNS: `pebble-challtestsrv`
 * (`test/harness/challtestsrv.ts`), so pebble's real DNS-01 validation reads what a backend
 * published through the fake. challtestsrv adds a value per `setTxt` and drops all of a
 * name's values per `clearTxt`.
 */
export interface TxtMirror {
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
}

/** Makes the mirror serve exactly `values` at `host` (fully qualified, no trailing dot). */
export async function mirrorName(mirror: TxtMirror, host: string, values: readonly string[]): Promise<void> {
  await mirror.clearTxt(host);
  for (const value of values) await mirror.setTxt(host, value);
}
