/**
 * @module SqliteAuditStore against a real database file: the AuditStore contract, and what
 * only SQLite has (its query plans, its file, schema upgrades and the backups before them).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigration, MIGRATIONS } from "./migrations.ts";
import { runAuditStoreContract } from "./contract.ts";
import { INTERRUPT_RUNNING_SQL, SqliteAuditStore } from "./sqlite.ts";
import type { IssuedCert } from "./types.ts";

const T0 = new Date("2030-01-01T00:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

let dir: string;
let path: string;
let store: SqliteAuditStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-sqlite-"));
  path = join(dir, "state", "rota.db");
  store = new SqliteAuditStore(path);
});
afterEach(async () => {
  await store.close(); // closing a closed store is harmless
  rmSync(dir, { recursive: true, force: true });
});

async function open(id: string, certId: string, startedSeconds: number, installOnly = false, reason: string | null = null): Promise<void> {
  await store.openRenewal({ id, certId, trigger: "scheduled", installOnly, reason, startedAt: at(startedSeconds) });
}

function issued(serial: string, notAfterDays: number, issuedSeconds = 0): IssuedCert {
  return {
    certId: "www",
    renewalId: `r-${serial}`,
    leafPem: `leaf ${serial}`,
    chainPem: `chain ${serial}`,
    serial,
    notBefore: T0,
    notAfter: new Date(T0.getTime() + notAfterDays * 86_400_000),
    issuedAt: at(issuedSeconds),
  };
}

for (const batchTrail of [false, true]) {
  runAuditStoreContract(batchTrail ? "sqlite, trail rows batched per turn" : "sqlite", async () => {
    const d = mkdtempSync(join(tmpdir(), "rota-sqlite-contract-"));
    const file = join(d, "rota.db");
    let current = new SqliteAuditStore(file, undefined, { batchTrail });
    return {
      store: current,
      node: null,
      async reopen() {
        await current.close();
        current = new SqliteAuditStore(file, undefined, { batchTrail });
        return current;
      },
      async stepRows() {
        // Batched rows are committed at the next turn of the event loop: another connection sees them from then on.
        await new Promise((resolve) => setImmediate(resolve));
        const db = new Database(file, { readonly: true });
        try {
          return (db.query("SELECT COUNT(*) AS n FROM renewal_event").get() as { n: number }).n;
        } finally {
          db.close();
        }
      },
      async cleanup() {
        await current.close();
        rmSync(d, { recursive: true, force: true });
      },
    };
  });
}

describe("trail rows batched per turn (the daemon's store)", () => {
  const seen = (sql: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return (db.query(sql).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  test("one turn's rows are committed together at the next turn; this store reads them at once", async () => {
    const batched = new SqliteAuditStore(join(dir, "batched.db"), undefined, { batchTrail: true });
    path = join(dir, "batched.db");
    await batched.openRenewal({ id: "r1", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(0) });
    for (let i = 0; i < 3; i++) await batched.addStep("r1", { step: "key", at: at(i), status: "ok", message: `m${i}`, durationMs: 1 });
    expect((await batched.getRenewal("r1"))!.events).toHaveLength(3);
    expect(seen("SELECT COUNT(*) AS n FROM renewal_event")).toBe(0);
    await nextTurn();
    expect(seen("SELECT COUNT(*) AS n FROM renewal_event")).toBe(3);
    await batched.closeRenewal("r1", "succeeded", at(5), null);
    await batched.close();
    expect(seen("SELECT COUNT(*) AS n FROM renewal WHERE status = 'succeeded'")).toBe(1);
  });

  test("any other write commits the waiting rows first, then itself, before it resolves", async () => {
    const batched = new SqliteAuditStore(join(dir, "batched.db"), undefined, { batchTrail: true });
    path = join(dir, "batched.db");
    await batched.openRenewal({ id: "r1", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(0) });
    await batched.addStep("r1", { step: "persist", at: at(1), status: "ok", message: "stored", durationMs: 1 });
    await batched.saveIssued(issued("0a", 90));
    expect(seen("SELECT COUNT(*) AS n FROM renewal_event")).toBe(1);
    expect(seen("SELECT COUNT(*) AS n FROM issued_cert")).toBe(1);
    await batched.close();
  });

  test("a commit that fails is thrown by the next trail write, and the store goes on", async () => {
    const batched = new SqliteAuditStore(join(dir, "batched.db"), undefined, { batchTrail: true });
    path = join(dir, "batched.db");
    await batched.openRenewal({ id: "r1", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(0) });
    // A deferred foreign key fails at COMMIT, as a full disk would.
    const db = (batched as unknown as { db: Database }).db;
    db.exec("PRAGMA defer_foreign_keys = ON");
    await batched.addStep("nope", { step: "key", at: at(1), status: "ok", message: "m", durationMs: 1 });
    await nextTurn();
    await expect(batched.addStep("r1", { step: "key", at: at(2), status: "ok", message: "m", durationMs: 1 })).rejects.toThrow(/FOREIGN KEY/);
    await batched.openRenewal({ id: "r2", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(3) });
    await nextTurn();
    expect(seen("SELECT COUNT(*) AS n FROM renewal")).toBe(1);
    await batched.close();
  });
});

describe("step numbers", () => {
  const seqs = (file: string, id: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return (db.query("SELECT seq, message FROM renewal_event WHERE renewal_id = ? ORDER BY seq").all(id) as { seq: number; message: string }[]).map((r) => `${r.seq}:${r.message}`);
    } finally {
      db.close();
    }
  };
  const addStep = (s: SqliteAuditStore, id: string, message: string) => s.addStep(id, { step: "key", at: at(1), status: "ok", message, durationMs: 1 });

  for (const batchTrail of [false, true]) {
    test(`count from 1 per renewal, go on after the stored ones in a store opened again, and after a close${batchTrail ? " (batched)" : ""}`, async () => {
      const file = join(dir, `steps-${batchTrail}.db`);
      let s = new SqliteAuditStore(file, undefined, { batchTrail });
      for (const id of ["r1", "r2"]) await s.openRenewal({ id, certId: id, trigger: "scheduled", installOnly: false, reason: null, startedAt: at(0) });
      await addStep(s, "r1", "a");
      await addStep(s, "r2", "x");
      await addStep(s, "r1", "b");
      await s.close();
      s = new SqliteAuditStore(file, undefined, { batchTrail });
      await addStep(s, "r1", "c");
      await s.closeRenewal("r1", "succeeded", at(2), null);
      await addStep(s, "r1", "late");
      await s.close();
      expect(seqs(file, "r1")).toEqual(["1:a", "2:b", "3:c", "4:late"]);
      expect(seqs(file, "r2")).toEqual(["1:x"]);
    });
  }

  test("a step whose row failed takes no number from the next", async () => {
    await open("r1", "www", 0);
    const db = (store as unknown as { db: Database }).db;
    db.exec("CREATE TRIGGER refuse BEFORE INSERT ON renewal_event WHEN NEW.message = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END");
    await store.addStep("r1", { step: "key", at: at(1), status: "ok", message: "a", durationMs: 1 });
    await expect(store.addStep("r1", { step: "key", at: at(1), status: "ok", message: "bad", durationMs: 1 })).rejects.toThrow("refused");
    await store.addStep("r1", { step: "key", at: at(1), status: "ok", message: "b", durationMs: 1 });
    expect(seqs(path, "r1")).toEqual(["1:a", "2:b"]);
  });
});

describe("change stamp", () => {
  test("moves with a write of this store (committed or not) or of another connection, never with a read", async () => {
    const stamps = [await store.changeStamp()];
    const moved = async () => {
      stamps.push(await store.changeStamp());
      return stamps.at(-1) !== stamps.at(-2);
    };
    await store.latestRenewals(["www"]);
    await store.certStates();
    expect(await moved()).toBe(false);
    await open("r1", "www", 0);
    expect(await moved()).toBe(true);
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: null, lastError: "boom", authzFailures: 0, haltedAt: null });
    expect(await moved()).toBe(true);
    // A renewal worker stores its certificate through its own connection.
    const worker = new SqliteAuditStore(path);
    await worker.saveIssued(issued("0a", 90));
    await worker.close();
    expect(await moved()).toBe(true);
    expect(await moved()).toBe(false);
    const batched = new SqliteAuditStore(join(dir, "batched.db"), undefined, { batchTrail: true });
    const before = await batched.changeStamp();
    await batched.openRenewal({ id: "r1", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(0) });
    expect(await batched.changeStamp()).not.toBe(before);
    await batched.close();
  });

  test("a fresh store on the same file never repeats an earlier store's stamp", async () => {
    const first = await store.changeStamp();
    await store.close();
    store = new SqliteAuditStore(path);
    expect(await store.changeStamp()).not.toBe(first);
  });
});

describe("renewals", () => {
  test("the newest-first search reads an index, not a sort of the whole table", async () => {
    const db = new Database(path, { readonly: true });
    const plan = db.query("EXPLAIN QUERY PLAN SELECT * FROM renewal ORDER BY started_at DESC, rowid DESC LIMIT 20").all() as Array<{ detail: string }>;
    db.close();
    expect(plan.map((p) => p.detail).join("; ")).toContain("USING INDEX renewal_started");
    expect(plan.map((p) => p.detail).join("; ")).not.toContain("TEMP B-TREE");
  });

  test("closing the rows left running reads the running rows' index, not every renewal", async () => {
    const db = new Database(path, { readonly: true });
    const plan = db.query(`EXPLAIN QUERY PLAN ${INTERRUPT_RUNNING_SQL}`).all({ at: 0 }) as Array<{ detail: string }>;
    db.close();
    expect(plan.map((p) => p.detail)).toEqual(["SEARCH renewal USING INDEX renewal_running (status=?)"]);
  });
});

describe("the database file", () => {
  test("is created with a private folder and survives reopening", async () => {
    expect(statSync(join(dir, "state")).mode & 0o777).toBe(0o700);
    await open("r1", "www", 0);
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: at(900), lastError: "x", authzFailures: 0, haltedAt: null });
    await store.close();
    store = new SqliteAuditStore(path);
    expect((await store.getRenewal("r1"))!.certId).toBe("www");
    expect((await store.getCertState("www"))!.consecutiveFailures).toBe(1);
  });

  test("a version-2 database is upgraded in place, old rows intact", async () => {
    await store.close();
    const v2Path = join(dir, "v2.db");
    const v2 = new Database(v2Path, { create: true });
    applyMigration(v2, MIGRATIONS[0]!);
    applyMigration(v2, MIGRATIONS[1]!);
    v2.exec("PRAGMA user_version = 2");
    v2.exec(`INSERT INTO renewal (id, cert_id, trigger, status, started_at, finished_at, error, install_only)
             VALUES ('old', 'www', 'manual', 'succeeded', ${T0.getTime()}, ${at(5).getTime()}, NULL, 1)`);
    v2.exec(`INSERT INTO renewal_event (renewal_id, seq, step, at, status, message, duration_ms)
             VALUES ('old', 1, 'key', ${at(1).getTime()}, 'ok', 'reused key', 3),
                    ('old', 2, 'install', ${at(4).getTime()}, 'ok', 'installed on files', 7)`);
    v2.exec(`INSERT INTO issued_cert (serial, cert_id, renewal_id, leaf_pem, chain_pem, not_before, not_after, issued_at)
             VALUES ('0a', 'www', 'r-0a', 'leaf 0a', 'chain 0a', ${T0.getTime()}, ${T0.getTime() + 90 * 86_400_000}, ${at(1).getTime()})`);
    v2.exec(`INSERT INTO cert_state (cert_id, consecutive_failures, retry_at, last_error) VALUES ('www', 2, NULL, 'e')`);
    v2.close();

    store = new SqliteAuditStore(v2Path);
    expect(await store.getRenewal("old")).toEqual({
      id: "old",
      certId: "www",
      trigger: "manual",
      installOnly: true,
      reason: null,
      status: "succeeded",
      startedAt: T0,
      finishedAt: at(5),
      error: null,
      node: null,
      events: [
        { step: "key", at: at(1), status: "ok", message: "reused key", durationMs: 3 },
        { step: "install", at: at(4), status: "ok", message: "installed on files", durationMs: 7 },
      ],
    });
    expect(await store.latestIssued("www")).toEqual(issued("0a", 90, 1));
    expect((await store.getCertState("www"))!.consecutiveFailures).toBe(2);
    expect(await store.lastInstalled("www", "files")).toBeNull();
    await store.saveInstalled({ certId: "www", target: "files", serial: "0a", installedAt: at(9) });
    expect((await store.lastInstalled("www", "files"))!.serial).toBe("0a");
    await open("new", "www", 10, true, "files: damaged: chain.pem is missing");
    expect((await store.getRenewal("new"))!.reason).toBe("files: damaged: chain.pem is missing");
    await store.close();

    const check = new Database(v2Path, { readonly: true });
    expect(check.query("PRAGMA user_version").get()).toEqual({ user_version: MIGRATIONS.length });
    check.close();
    expect(MIGRATIONS.length).toBe(10);
  });

  test("a version-6 database keeps its failure state, not counted as authorization failures nor halted", async () => {
    await store.close();
    const v6Path = join(dir, "v6.db");
    const v6 = new Database(v6Path, { create: true });
    for (const m of MIGRATIONS.slice(0, 6)) applyMigration(v6, m);
    v6.exec("PRAGMA user_version = 6");
    v6.exec(`INSERT INTO cert_state (cert_id, consecutive_failures, retry_at, last_error) VALUES ('www', 2, ${at(900).getTime()}, 'acme: boom')`);
    v6.close();

    store = new SqliteAuditStore(v6Path);
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 2, retryAt: at(900), lastError: "acme: boom", authzFailures: 0, haltedAt: null });
    await store.putCertState({ certId: "www", consecutiveFailures: 3, retryAt: null, lastError: "acme: invalid", authzFailures: 5, haltedAt: at(1000) });
    await store.close();
    store = new SqliteAuditStore(v6Path);
    expect(await store.getCertState("www")).toMatchObject({ authzFailures: 5, haltedAt: at(1000) });
  });

  describe("an older database is backed up before it is migrated", () => {
    const v1 = (file: string) => {
      const db = new Database(file, { create: true });
      applyMigration(db, MIGRATIONS[0]!);
      db.exec("PRAGMA user_version = 1");
      db.exec(`INSERT INTO renewal (id, cert_id, trigger, status, started_at) VALUES ('old', 'www', 'manual', 'succeeded', ${T0.getTime()})`);
      db.close();
    };
    const rows = (file: string) => {
      const db = new Database(file, { readonly: true });
      try {
        return { version: db.query("PRAGMA user_version").get(), renewals: db.query("SELECT id, cert_id, status FROM renewal").all() };
      } finally {
        db.close();
      }
    };
    const clockAt = (iso: string) => ({ now: () => new Date(iso) });

    test("VACUUM INTO a private copy named for the new version and the time, which opens at version 1 with the same rows", async () => {
      const db = join(dir, "state", "old.db");
      v1(db);
      const before = rows(db);
      const upgraded = new SqliteAuditStore(db, clockAt("2031-02-03T04:05:06.789Z"));
      await upgraded.close();
      const backup = `${db}.pre-v${MIGRATIONS.length}-20310203T040506Z.bak`;
      expect(statSync(backup).mode & 0o777).toBe(0o600);
      expect(rows(backup)).toEqual(before);
      expect(rows(db).version).toEqual({ user_version: MIGRATIONS.length });
      expect(rows(db).renewals).toEqual(before.renewals);
    });

    test("the newest three backups are kept", async () => {
      const db = join(dir, "state", "old.db");
      const older = ["20300101T000000Z", "20300102T000000Z", "20300103T000000Z"].map((stamp) => `${db}.pre-v2-${stamp}.bak`);
      for (const file of older) writeFileSync(file, "");
      writeFileSync(join(dir, "state", "other.db.pre-v2-20200101T000000Z.bak"), "");
      v1(db);
      await new SqliteAuditStore(db, clockAt("2031-01-01T00:00:00Z")).close();
      expect(readdirSync(join(dir, "state")).filter((f) => f.includes(".pre-v")).sort()).toEqual(
        ["old.db.pre-v2-20300102T000000Z.bak", "old.db.pre-v2-20300103T000000Z.bak", `old.db.pre-v${MIGRATIONS.length}-20310101T000000Z.bak`, "other.db.pre-v2-20200101T000000Z.bak"].sort(),
      );
    });

    test("a new database and an up-to-date one are not backed up", async () => {
      await store.close();
      store = new SqliteAuditStore(path, clockAt("2031-01-01T00:00:00Z"));
      expect(readdirSync(join(dir, "state")).filter((f) => f.endsWith(".bak"))).toEqual([]);
    });

    test("when the backup cannot be written, nothing is migrated", () => {
      const db = join(dir, "state", "old.db");
      v1(db);
      const before = rows(db);
      // Taken by a folder: the copy cannot be created, whoever runs the test (root included).
      mkdirSync(`${db}.pre-v${MIGRATIONS.length}-20310101T000000Z.bak`);
      expect(() => new SqliteAuditStore(db, clockAt("2031-01-01T00:00:00Z"))).toThrow(
        new RegExp(`^sqlite: cannot back up ${db.replace(/[.]/g, "\\.")} before migrating v1→v${MIGRATIONS.length}: .*EEXIST.*; nothing changed$`),
      );
      expect(rows(db)).toEqual(before);
    });
  });

  test("a database from a newer rota is refused", async () => {
    const newer = join(dir, "newer.db");
    const db = new Database(newer, { create: true });
    db.exec("PRAGMA user_version = 99");
    db.close();
    expect(() => new SqliteAuditStore(newer)).toThrow(`sqlite: database schema version 99 is newer than this rota (${MIGRATIONS.length}); upgrade rota`);
  });
});
