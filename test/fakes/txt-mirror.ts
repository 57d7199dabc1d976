/**
 * @module Where a fake DNS API's TXT records are also served over DNS: `pebble-challtestsrv`
 * (`test/harness/challtestsrv.ts`), so pebble's real DNS-01 validation reads what a backend
 * published through the fake. challtestsrv adds a value per `setTxt` and drops all of a
 * name's values per `clearTxt`; a real authoritative server (test/harness/knot.ts) takes
 * the same two writes, behind `fanOut` and, for one that lags, `lagging`.
 */
export interface TxtMirror {
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  /** CNAME records (the `dns-cname` challenge), where the DNS server takes them; `target` without the trailing dot. */
  setCname?(host: string, target: string): Promise<void>;
  clearCname?(host: string): Promise<void>;
}

/** Makes the mirror serve a CNAME to `target` at `host`, or none when `target` is null. */
export async function mirrorCname(mirror: TxtMirror, host: string, target: string | null): Promise<void> {
  if (target === null) await mirror.clearCname?.(host);
  else await mirror.setCname?.(host, target);
}

/** Makes the mirror serve exactly `values` at `host` (fully qualified, no trailing dot). */
export async function mirrorName(mirror: TxtMirror, host: string, values: readonly string[]): Promise<void> {
  await mirror.clearTxt(host);
  for (const value of values) await mirror.setTxt(host, value);
}

/** One mirror writing to several DNS servers, each write done on all before it resolves. */
export function fanOut(...mirrors: TxtMirror[]): TxtMirror {
  return {
    setTxt: async (host, value) => void (await Promise.all(mirrors.map((m) => m.setTxt(host, value)))),
    clearTxt: async (host) => void (await Promise.all(mirrors.map((m) => m.clearTxt(host)))),
  };
}

export interface LaggingMirror extends TxtMirror {
  /** Resolves once every write handed over so far is applied; rejects with the first that failed. */
  settled(): Promise<void>;
}

/**
 * A DNS server that lags behind its provider's API: each write returns at once and is applied
 * `lagMs` after it was made, in order — the "API said OK but one server does not show it yet"
 * that the authoritative-servers check exists for.
 */
export function lagging(mirror: TxtMirror, lagMs: number): LaggingMirror {
  let queue: Promise<void> = Promise.resolve();
  const failures: unknown[] = [];
  const later = (write: () => Promise<void>): Promise<void> => {
    const due = Date.now() + lagMs;
    queue = queue.then(async () => {
      await Bun.sleep(Math.max(0, due - Date.now()));
      await write().catch((err: unknown) => void failures.push(err));
    });
    return Promise.resolve();
  };
  return {
    setTxt: (host, value) => later(() => mirror.setTxt(host, value)),
    clearTxt: (host) => later(() => mirror.clearTxt(host)),
    async settled() {
      await queue;
      if (failures.length > 0) throw failures[0];
    },
  };
}
