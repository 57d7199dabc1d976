/**
 * @module Opens the configured audit store. SQLite is opened in place (and survives a
 * damaged file, see `recovering.ts`); the SurrealDB store and its SDK are imported only
 * here, lazily, so `rota version`, the CLI and a daemon on SQLite never load them.
 */
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Clock } from "../clock.ts";
import type { RotaConfig } from "../config/schema.ts";
import type { StoreEvent } from "../events.ts";
import type { Logger } from "../log.ts";
import { openRecoveringStore } from "./recovering.ts";
import type { AuditStore } from "./types.ts";

export interface OpenStoreOptions {
  /** The daemon writing renewals: `cluster.node_id` in cluster mode, else `defaultOwner`'s. */
  owner?: string;
  /** Cluster mode: this node's id, recorded as each renewal's `node` (SurrealDB only: cluster mode needs it). */
  node?: string;
  /** The daemon's store: audit trail writes wait in memory through an outage of the server; on SQLite a turn's trail rows share one commit. */
  buffered: boolean;
  log: Logger;
  clock: Clock;
  /** The server connection was lost, or is back (SurrealDB only). */
  onState?: (e: StoreEvent) => void;
}

/**
 * The store `config.audit` names. For SurrealDB: connected, its schema current, and what an
 * earlier run spooled stored, or a `RotaError` — `store_unreachable` (exit 1) or
 * `store_config` (a problem line naming the key, exit 2).
 */
export async function openAuditStore(config: RotaConfig, opts: OpenStoreOptions): Promise<AuditStore> {
  const audit = config.audit;
  if (audit.backend === "sqlite") return openRecoveringStore(audit.path, opts.log, opts.clock, { batchTrail: opts.buffered });
  const { SurrealAuditStore } = await import("./surreal.ts");
  return SurrealAuditStore.open(audit, {
    owner: opts.owner ?? defaultOwner(config.daemon.stateDir),
    // Before the owner named the state folder, it was the host name alone.
    legacyOwner: opts.owner === undefined ? hostname() : undefined,
    node: opts.node,
    buffered: opts.buffered,
    log: opts.log,
    clock: opts.clock,
    stateDir: config.daemon.stateDir,
    onState: opts.onState,
  });
}

/**
 * `nas-1/3f9a2c1e`: the host name, readable in `rota audit`, and an id of the state folder,
 * so two daemons on one host (each has its own state_dir) are two owners: one's start must
 * not close the other's running renewals, nor take its cert ids.
 */
export function defaultOwner(stateDir: string, host = hostname()): string {
  return `${host}/${createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 8)}`;
}
