/**
 * @module The DCV backends the daemon's journal sweep removes challenges with: the configured
 * one when an entry's `[[dcv]]` section is still configured exactly as its publish used it,
 * else one built from the section the entry journaled. A reload that moved a webroot or changed
 * a DNS account, or dropped the section, still removes what was published where it was.
 */
import type { BackendContext } from "../backends/context.ts";
import { DCV_TYPES } from "../backends/registry.ts";
import type { DcvBackend } from "../backends/types.ts";
import type { DcvFinder } from "../pipeline/journal.ts";
import type { Watchlist } from "../pipeline/runtime.ts";

export class JournaledDcvs {
  /** Backends built from journaled sections, by the section's JSON: a sweep after a sweep reuses them (Cloudflare's zone ids). */
  private readonly built = new Map<string, DcvBackend>();

  constructor(private readonly ctx: BackendContext) {}

  /** The finder for the config the daemon runs now. */
  finder(watch: Watchlist): DcvFinder {
    return async (entry) => {
      const current = watch.config.dcvs.find((s) => s.name === entry.dcv);
      // Options are compared as the journal holds them: JSON, where a key set to undefined is absent.
      if (current && (!entry.section || Bun.deepEquals(JSON.parse(JSON.stringify(current)), entry.section))) return watch.dcvs.get(entry.dcv);
      if (!entry.section) return undefined;
      const key = JSON.stringify(entry.section);
      const known = this.built.get(key);
      if (known) return known;
      const type = Object.hasOwn(DCV_TYPES, entry.section.type) ? DCV_TYPES[entry.section.type] : undefined;
      if (!type) return undefined;
      const backend = await type.create(entry.section.name, entry.section.options, this.ctx);
      this.built.set(key, backend);
      return backend;
    };
  }
}
