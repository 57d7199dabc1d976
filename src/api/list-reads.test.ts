/**
 * @module The list's store reads on a real SQLite store: read once while nothing is written,
 * read again after any write (this store's or another connection's) or a reload, and at
 * every call on a store without a change stamp.
 */
import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { systemClock } from "../clock.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import { openRecoveringStore } from "../store/recovering.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import type { AuditStore } from "../store/types.ts";
import { ListReads } from "./list-reads.ts";

const T0 = new Date("2030-01-01T00:00:00Z");

let dir: string;
let path: string;
let store: SqliteAuditStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-list-reads-"));
  path = join(dir, "rota.db");
  store = new SqliteAuditStore(path);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const watched = (...ids: string[]) => ids.map((id) => ({ config: { id } }) as WatchedCert);

/** Counts the store's list reads: each `read` that goes to the store makes one of each. */
function counted(s: AuditStore): { reads: () => number } {
  const latest = spyOn(s, "latestRenewals");
  const states = spyOn(s, "certStates");
  return {
    reads: () => {
      expect(states).toHaveBeenCalledTimes(latest.mock.calls.length);
      return latest.mock.calls.length;
    },
  };
}

describe("ListReads", () => {
  test("an unchanged store is read once; a write of this store, or of another connection, has it read again", async () => {
    const certs = watched("www", "api");
    const reads = new ListReads();
    const calls = counted(store);
    const first = await reads.read(store, certs);
    for (let n = 0; n < 10; n++) expect(await reads.read(store, certs)).toBe(first);
    expect(calls.reads()).toBe(1);

    await store.openRenewal({ id: "r1", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: T0 });
    expect((await reads.read(store, certs)).latest.get("www")?.status).toBe("running");
    expect(calls.reads()).toBe(2);

    // A renewal worker's connection: its commit is seen through the database's data version.
    const worker = new SqliteAuditStore(path);
    await worker.putCertState({ certId: "api", consecutiveFailures: 2, retryAt: null, lastError: "boom", authzFailures: 0, haltedAt: null });
    await worker.close();
    expect((await reads.read(store, certs)).states.get("api")?.consecutiveFailures).toBe(2);
    expect(calls.reads()).toBe(3);
    await reads.read(store, certs);
    expect(calls.reads()).toBe(3);
  });

  test("a reload's new watchlist is read again, even with the same ids", async () => {
    const reads = new ListReads();
    const calls = counted(store);
    await reads.read(store, watched("www"));
    await reads.read(store, watched("www"));
    expect(calls.reads()).toBe(2);
  });

  test("through the daemon's store (the wrapper that survives a damaged file), as on SQLite itself", async () => {
    const daemonStore = openRecoveringStore(join(dir, "daemon.db"), createConsola({ level: Number.NEGATIVE_INFINITY }), systemClock, { batchTrail: true });
    try {
      // Its methods cannot be spied on (a proxy): the reads kept are the same objects handed out again.
      const certs = watched("www");
      const reads = new ListReads();
      const first = await reads.read(daemonStore, certs);
      expect(await reads.read(daemonStore, certs)).toBe(first);
      await daemonStore.openRenewal({ id: "r1", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: T0 });
      const after = await reads.read(daemonStore, certs);
      expect(after).not.toBe(first);
      expect(after.latest.get("www")?.id).toBe("r1");
      expect(await reads.read(daemonStore, certs)).toBe(after);
    } finally {
      await daemonStore.close();
    }
  });

  test("a store without a change stamp is read at every call", async () => {
    const plain: AuditStore = { latestRenewals: (ids) => store.latestRenewals(ids), certStates: (ids) => store.certStates(ids) } as AuditStore;
    const certs = watched("www");
    const reads = new ListReads();
    const calls = counted(plain);
    for (let n = 0; n < 3; n++) await reads.read(plain, certs);
    expect(calls.reads()).toBe(3);
  });
});
