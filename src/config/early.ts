/**
 * @module The config of a daemon's start, in two parts when it can be (issue 11). When the
 * parse cache holds these exact bytes for this build in the state folder they name (written
 * only after a start with them swept once), everything but the `[[cert]]` tables is validated
 * at once, the start listens on that, and the certs are read and validated after, a run at a
 * time with turns of the event loop between, so `/healthz` answers meanwhile. Otherwise the
 * whole file is loaded as `loadConfigCached` loads it, before anything listens: an edited
 * config with a problem exits 2 before the daemon binds anything, as it always has.
 */
import { resolve } from "node:path";
import { ConfigError, loadLooked, nothingToRemember, readConfigFile, type CachedLoad } from "./load.ts";
import { lookupParse, parseCertLine, type CacheLookup, type CachedParse } from "./parse-cache.ts";
import type { DaemonConfig, HttpConfig } from "./schema.ts";
import { ConfigValidation } from "./validate.ts";

/** A start on a cache hit: what listening needs, validated; the rest to come. */
export interface EarlyStart {
  file: string;
  daemon: DaemonConfig;
  http: HttpConfig;
  /**
   * Reads and validates the certs and the sections after them, yielding to the event loop
   * every few milliseconds: the config `loadConfigCached` would give, or the ConfigError it
   * would throw (the environment may have changed since the cache was written: a secret's
   * variable unset, a file gone).
   */
  complete(): Promise<CachedLoad>;
}

/** `early` when the start can listen first; else the whole load, done. */
export type StartLoad = { early: EarlyStart; loaded?: undefined } | { early?: undefined; loaded: CachedLoad };

/** Work between two turns of the event loop while the certs are read: `/healthz` waits at most about this long. */
const SLICE_MS = 5;
/** Certs validated between two looks at the clock. */
const CERTS_PER_LOOK = 32;

/**
 * The daemon start's config load for the file at `path`, by a build tagged `tag`. Throws
 * ConfigError as `loadConfigCached` does. Cluster mode loads whole (its lease is claimed
 * before the listeners); so does an `[http]` with `tls_cert_id`, which names a cert.
 */
export function loadForStart(path: string, tag: string, env: Record<string, string | undefined> = process.env): StartLoad {
  const file = resolve(path);
  const bytes = readConfigFile(file);
  const lookup = lookupParse(bytes, file, tag);
  const hit = lookup.hit;
  if (hit?.split) {
    const v = new ConfigValidation(hit.head, file, env);
    // A problem here is new since the cache was written: the whole load reports it in full.
    if (v.problemCount === 0 && v.daemon.stateDir === lookup.dir) {
      const preview = v.preview();
      if (preview.problems === 0 && !preview.cluster.enabled) return { early: earlyStart(preview.http, { v, hit, bytes, file, lookup, env }) };
    }
  }
  return { loaded: loadLooked(bytes, file, lookup, env) };
}

/** What the rest of a start's load works from. */
interface Pending {
  v: ConfigValidation;
  hit: CachedParse;
  bytes: Uint8Array;
  file: string;
  lookup: CacheLookup;
  env: Record<string, string | undefined>;
}

/**
 * Made here, not inline: the daemon's command holds its EarlyStart for the daemon's whole
 * life, and `complete` lets go of the file's bytes and the validation (the cert tables read)
 * when it is called.
 */
function earlyStart(http: HttpConfig, pending: Pending): EarlyStart {
  let rest: Pending | null = pending;
  return {
    file: pending.file,
    daemon: pending.v.daemon,
    http,
    complete() {
      const p = rest;
      rest = null;
      if (!p) return Promise.reject(new Error("the start's load is complete already"));
      return completeLoad(p);
    },
  };
}

async function completeLoad({ v, hit, bytes, file, lookup, env }: Pending): Promise<CachedLoad> {
  const certs = await readCertTables(hit);
  // A cert part that does not read back whole: the TOML is parsed (one block, once).
  if (!certs) return loadLooked(bytes, file, { dir: lookup.dir, key: lookup.key }, env);
  const n = v.beginCerts(certs);
  let until = performance.now() + SLICE_MS;
  for (let at = 0; at < n; ) {
    at = Math.min(n, at + CERTS_PER_LOOK);
    v.readCerts(at);
    if (performance.now() >= until) {
      await turn();
      until = performance.now() + SLICE_MS;
    }
  }
  const result = v.finish();
  if (!result.ok) throw new ConfigError(file, result.problems, result.partial);
  return { config: result.config, warnings: result.warnings, remember: nothingToRemember };
}

/** The cache's `[[cert]]` tables, a line at a time between turns; undefined when its cert part is damaged. */
async function readCertTables(hit: CachedParse): Promise<unknown[] | undefined> {
  const lines = hit.certLines();
  if (!lines) return undefined;
  await turn();
  const tables: unknown[] = [];
  let until = performance.now() + SLICE_MS;
  for (const line of lines) {
    const part = parseCertLine(line);
    if (!part) return undefined;
    for (const t of part) tables.push(t);
    if (performance.now() >= until) {
      await turn();
      until = performance.now() + SLICE_MS;
    }
  }
  return tables;
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
