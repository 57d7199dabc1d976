/**
 * @module Opens the configured audit store. SQLite is opened in place (and survives a
 * damaged file, see `recovering.ts`); the SurrealDB store and its SDK are imported only
 * here, lazily, so `rota version`, the CLI and a daemon on SQLite never load them.
 */
import { hostname } from "node:os";
import type { Clock } from "../clock.ts";
import type { RotaConfig } from "../config/schema.ts";
import type { StoreEvent } from "../events.ts";
import type { Logger } from "../log.ts";
import { openRecoveringStore } from "./recovering.ts";
import type { AuditStore } from "./types.ts";

export interface OpenStoreOptions {
  /** The node writing renewals (the host name, or `cluster.node_id` in cluster mode). */
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
    owner: opts.owner ?? hostname(),
    node: opts.node,
    buffered: opts.buffered,
    log: opts.log,
    clock: opts.clock,
    stateDir: config.daemon.stateDir,
    onState: opts.onState,
  });
}
