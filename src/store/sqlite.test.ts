/** @module SqliteAuditStore against a real database file: renewals and their steps, issued certificates, cert state, schema upgrades. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigration, MIGRATIONS } from "./migrations.ts";
import { SqliteAuditStore } from "./sqlite.ts";
import type { Trigger } from "../events.ts";
import type { IssuedCert, RenewalQuery, RenewalStatus, StepEvent } from "./types.ts";

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

const step = (name: StepEvent["step"], seconds: number, status: StepEvent["status"] = "ok"): StepEvent => ({
  step: name,
  at: at(seconds),
  status,
  message: `${name} ${status}`,
  durationMs: 12.6,
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

describe("renewals", () => {
  test("open, steps in order, close: read back whole", async () => {
    await open("r1", "www", 0, true, "files: damaged: privkey.pem is missing");
    await store.addStep("r1", step("key", 1));
    await store.addStep("r1", step("csr", 2));
    await store.addStep("r1", step("submit", 3, "failed"));
    await store.closeRenewal("r1", "failed", at(4), "acme: boom");

    expect(await store.getRenewal("r1")).toEqual({
      id: "r1",
      certId: "www",
      trigger: "scheduled",
      installOnly: true,
      reason: "files: damaged: privkey.pem is missing",
      status: "failed",
      startedAt: at(0),
      finishedAt: at(4),
      error: "acme: boom",
      events: [
        { step: "key", at: at(1), status: "ok", message: "key ok", durationMs: 13 },
        { step: "csr", at: at(2), status: "ok", message: "csr ok", durationMs: 13 },
        { step: "submit", at: at(3), status: "failed", message: "submit failed", durationMs: 13 },
      ],
    });
  });

  test("a running renewal reads back as running, with no end", async () => {
    await open("r1", "www", 0);
    expect(await store.getRenewal("r1")).toMatchObject({ status: "running", finishedAt: null, error: null, events: [], installOnly: false, reason: null });
  });

  test("an unknown renewal is null", async () => {
    expect(await store.getRenewal("nope")).toBeNull();
  });

  test("closing twice keeps the first outcome", async () => {
    await open("r1", "www", 0);
    await store.closeRenewal("r1", "succeeded", at(1), null);
    await store.closeRenewal("r1", "failed", at(2), "late");
    expect(await store.getRenewal("r1")).toMatchObject({ status: "succeeded", finishedAt: at(1), error: null });
  });

  test("list: newest first, limited, filtered by cert", async () => {
    await open("a1", "a", 10);
    await open("b1", "b", 20);
    await open("a2", "a", 30);
    await open("a3", "a", 30); // same start: the later insert counts as newer
    await store.addStep("a2", step("key", 31));

    const ids = async (q: { certId?: string; limit: number }) => (await store.listRenewals(q)).map((r) => r.id);
    expect(await ids({ limit: 10 })).toEqual(["a3", "a2", "b1", "a1"]);
    expect(await ids({ limit: 2 })).toEqual(["a3", "a2"]);
    expect(await ids({ certId: "a", limit: 10 })).toEqual(["a3", "a2", "a1"]);
    expect(await ids({ certId: "b", limit: 10 })).toEqual(["b1"]);
    expect(await ids({ certId: "nope", limit: 10 })).toEqual([]);
    expect((await store.listRenewals({ limit: 10 })).find((r) => r.id === "a2")!.events.map((e) => e.step)).toEqual(["key"]);
  });

  test("search: statuses, triggers and a time window combine", async () => {
    const add = async (id: string, certId: string, seconds: number, trigger: Trigger, status: RenewalStatus | "running") => {
      await store.openRenewal({ id, certId, trigger, installOnly: false, reason: null, startedAt: at(seconds) });
      if (status !== "running") await store.closeRenewal(id, status, at(seconds + 1), null);
    };
    await add("a1", "a", 10, "scheduled", "succeeded");
    await add("a2", "a", 20, "manual", "failed");
    await add("b1", "b", 30, "startup", "interrupted");
    await add("b2", "b", 40, "manual", "running");
    await store.addStep("a2", step("key", 21));
    const ids = async (q: Partial<RenewalQuery>) => (await store.listRenewals({ limit: 10, ...q })).map((r) => r.id);
    expect(await ids({ statuses: ["failed", "interrupted"] })).toEqual(["b1", "a2"]);
    expect(await ids({ triggers: ["manual"] })).toEqual(["b2", "a2"]);
    expect(await ids({ triggers: ["manual"], certId: "a" })).toEqual(["a2"]);
    expect(await ids({ since: at(20), until: at(40) })).toEqual(["b1", "a2"]);
    expect(await ids({ since: at(21) })).toEqual(["b2", "b1"]);
    expect(await ids({ statuses: [] })).toEqual([]);
    expect((await store.listRenewals({ limit: 10, statuses: ["failed"] }))[0]!.events.map((e) => e.step)).toEqual(["key"]);
  });

  test("before: pages newest first with no gap and no repeat, however many rows arrive meanwhile", async () => {
    for (let i = 0; i < 5; i++) await open(`r${i}`, "a", i < 3 ? 10 : 20 + i); // r0..r2 share a start
    const first = (await store.listRenewals({ limit: 2 })).map((r) => r.id);
    expect(first).toEqual(["r4", "r3"]);
    await open("later", "a", 99);
    await open("same", "a", 10); // the same start as r0..r2, inserted after them: newer than they are
    const second = (await store.listRenewals({ limit: 2, before: "r3" })).map((r) => r.id);
    expect(second).toEqual(["same", "r2"]);
    expect((await store.listRenewals({ limit: 10, before: "r2" })).map((r) => r.id)).toEqual(["r1", "r0"]);
    expect(await store.listRenewals({ limit: 10, before: "r0" })).toEqual([]);
    expect(await store.listRenewals({ limit: 10, before: "r2", certId: "b" })).toEqual([]);
  });

  test("before: an id not in the store matches nothing", async () => {
    await open("r1", "a", 10);
    expect(await store.listRenewals({ limit: 10, before: "nope" })).toEqual([]);
  });

  test("the newest-first search reads an index, not a sort of the whole table", async () => {
    const db = new Database(path, { readonly: true });
    const plan = db.query("EXPLAIN QUERY PLAN SELECT * FROM renewal ORDER BY started_at DESC, rowid DESC LIMIT 20").all() as Array<{ detail: string }>;
    db.close();
    expect(plan.map((p) => p.detail).join("; ")).toContain("USING INDEX renewal_started");
    expect(plan.map((p) => p.detail).join("; ")).not.toContain("TEMP B-TREE");
  });

  test("latestRenewals: the newest of each cert, without its steps", async () => {
    await open("a1", "a", 10);
    await open("a2", "a", 30);
    await open("b1", "b", 20);
    await store.addStep("a2", step("key", 31));
    const latest = await store.latestRenewals(["a", "b"]);
    expect([...latest.keys()].sort()).toEqual(["a", "b"]);
    expect(latest.get("a")!.id).toBe("a2");
    expect("events" in latest.get("a")!).toBe(false);
    expect(latest.get("b")!.id).toBe("b1");
    const some = await store.latestRenewals(["a", "nope"]);
    expect([...some.keys()]).toEqual(["a"]);
    expect(some.get("a")!.id).toBe("a2");
    expect((await store.latestRenewals([])).size).toBe(0);
  });

  test("certStates: every cert's failure state in one read", async () => {
    await store.putCertState({ certId: "a", consecutiveFailures: 2, retryAt: at(5), lastError: "boom" });
    await store.putCertState({ certId: "b", consecutiveFailures: 0, retryAt: null, lastError: null });
    const states = await store.certStates();
    expect(states.get("a")).toEqual({ certId: "a", consecutiveFailures: 2, retryAt: at(5), lastError: "boom" });
    expect(states.get("b")?.retryAt).toBeNull();
    expect(states.has("c")).toBe(false);
    expect([...(await store.certStates(["b", "c"])).keys()]).toEqual(["b"]);
  });

  test("interruptRunning closes only the rows still running", async () => {
    await open("done", "a", 0);
    await store.closeRenewal("done", "succeeded", at(1), null);
    await open("left1", "a", 2);
    await open("left2", "b", 3);

    expect(await store.interruptRunning(at(100))).toBe(2);
    expect(await store.getRenewal("left1")).toMatchObject({
      status: "interrupted",
      finishedAt: at(100),
      error: "the daemon stopped during this renewal",
    });
    expect((await store.getRenewal("done"))!.status).toBe("succeeded");
    expect(await store.interruptRunning(at(200))).toBe(0);
  });
});

describe("issued certificates", () => {
  test("latestIssued is the one with the latest notAfter", async () => {
    expect(await store.latestIssued("www")).toBeNull();
    await store.saveIssued(issued("0a", 90, 1));
    await store.saveIssued(issued("0c", 30, 3)); // issued later, but expires sooner
    await store.saveIssued(issued("0b", 60, 2));
    expect(await store.latestIssued("www")).toEqual(issued("0a", 90, 1));
    expect(await store.latestIssued("other")).toBeNull();
  });

  test("saving the same serial twice replaces it", async () => {
    await store.saveIssued(issued("0a", 90, 1));
    await store.saveIssued({ ...issued("0a", 90, 5), chainPem: "new chain" });
    expect(await store.latestIssued("www")).toMatchObject({ chainPem: "new chain", issuedAt: at(5) });
  });
});

describe("installs per target", () => {
  test("lastInstalled is the stored certificate of the serial last installed there, per target", async () => {
    expect(await store.lastInstalled("www", "files")).toBeNull();
    await store.saveIssued(issued("0a", 90, 1));
    await store.saveIssued(issued("0b", 60, 2));
    await store.saveInstalled({ certId: "www", target: "files", serial: "0a", installedAt: at(3) });
    await store.saveInstalled({ certId: "www", target: "nas", serial: "0a", installedAt: at(3) });
    await store.saveInstalled({ certId: "www", target: "files", serial: "0b", installedAt: at(4) });
    expect(await store.lastInstalled("www", "files")).toEqual(issued("0b", 60, 2));
    expect(await store.lastInstalled("www", "nas")).toEqual(issued("0a", 90, 1));
    expect(await store.lastInstalled("www", "other")).toBeNull();
    expect(await store.lastInstalled("api", "files")).toBeNull();
  });

  test("a serial whose issued row is missing reads as nothing installed", async () => {
    await store.saveInstalled({ certId: "www", target: "files", serial: "0f", installedAt: at(1) });
    expect(await store.lastInstalled("www", "files")).toBeNull();
  });
});

describe("prune", () => {
  const CONFIGURED = ["www", "a", "b", "c", "other"];
  const closed = async (id: string, certId: string, startedSeconds: number) => {
    await open(id, certId, startedSeconds);
    await store.addStep(id, step("key", startedSeconds + 1));
    await store.closeRenewal(id, "succeeded", at(startedSeconds + 2), null);
  };
  const stepCount = () => {
    const db = new Database(path, { readonly: true });
    const { n } = db.query("SELECT COUNT(*) AS n FROM renewal_event").get() as { n: number };
    db.close();
    return n;
  };

  test("old finished renewals go with their steps; each cert's newest and running rows stay", async () => {
    await closed("a1", "a", 10);
    await closed("a2", "a", 20);
    await closed("a3", "a", 30);
    await closed("b1", "b", 10); // old, but b's newest
    await open("c1", "c", 5); // old, still running
    await open("c2", "c", 50);

    expect(await store.prune(at(25), CONFIGURED)).toEqual({ renewals: 2, steps: 2, issued: 0, installs: 0, alerts: 0 });
    expect((await store.listRenewals({ limit: 10 })).map((r) => r.id).sort()).toEqual(["a3", "b1", "c1", "c2"]);
    expect(stepCount()).toBe(2);
    expect(await store.prune(at(25), CONFIGURED)).toEqual({ renewals: 0, steps: 0, issued: 0, installs: 0, alerts: 0 });
  });

  test("old issued certificates go; the one latestIssued returns stays however old", async () => {
    await store.saveIssued(issued("0a", 30, 1));
    await store.saveIssued(issued("0b", 90, 2)); // the latest notAfter
    await store.saveIssued(issued("0c", 60, 100)); // recent
    await store.saveIssued({ ...issued("0d", 10, 1), certId: "other" });

    expect(await store.prune(at(50), CONFIGURED)).toEqual({ renewals: 0, steps: 0, issued: 1, installs: 0, alerts: 0 });
    expect((await store.latestIssued("www"))!.serial).toBe("0b");
    expect((await store.latestIssued("other"))!.serial).toBe("0d");
    expect(await store.prune(at(1000), CONFIGURED)).toEqual({ renewals: 0, steps: 0, issued: 1, installs: 0, alerts: 0 });
    expect((await store.latestIssued("www"))!.serial).toBe("0b");
  });

  test("a certificate a target is recorded to serve stays however old", async () => {
    await store.saveIssued(issued("0a", 30, 1));
    await store.saveIssued(issued("0b", 90, 2));
    await store.saveInstalled({ certId: "www", target: "nas", serial: "0a", installedAt: at(3) });
    expect(await store.prune(at(1000), CONFIGURED)).toEqual({ renewals: 0, steps: 0, issued: 0, installs: 0, alerts: 0 });
    expect((await store.lastInstalled("www", "nas"))!.serial).toBe("0a");
  });

  test("install records of certs no longer configured go, with the certificates only they kept", async () => {
    await store.saveIssued(issued("0a", 30, 1));
    await store.saveIssued(issued("0b", 90, 2));
    await store.saveIssued({ ...issued("1a", 30, 1), certId: "gone" });
    await store.saveIssued({ ...issued("1b", 90, 2), certId: "gone" });
    await store.saveInstalled({ certId: "www", target: "nas", serial: "0a", installedAt: at(3) });
    await store.saveInstalled({ certId: "gone", target: "nas", serial: "1a", installedAt: at(3) });
    await store.saveInstalled({ certId: "gone", target: "files", serial: "1b", installedAt: at(3) });
    expect(await store.prune(at(1000), ["www"])).toEqual({ renewals: 0, steps: 0, issued: 1, installs: 2, alerts: 0 });
    expect((await store.lastInstalled("www", "nas"))!.serial).toBe("0a");
    expect(await store.lastInstalled("gone", "nas")).toBeNull();
    expect((await store.latestIssued("gone"))!.serial).toBe("1b");
  });

  test("alert delivery records older than the cut-off go; newer ones stay", async () => {
    const delivery = (id: string, t: number) => store.recordDelivery({ alertId: id, sink: "mail", event: "renewal.failed", certId: "www", at: at(t), outcome: "delivered", error: null, attempts: 1 });
    await delivery("old", 10);
    await delivery("new", 40);
    expect(await store.prune(at(25), CONFIGURED)).toMatchObject({ alerts: 1 });
    expect((await store.listDeliveries(10)).map((d) => d.alertId)).toEqual(["new"]);
  });
});

describe("cert state", () => {
  test("round-trips, null retryAt included, and is replaced on put", async () => {
    expect(await store.getCertState("www")).toBeNull();
    await store.putCertState({ certId: "www", consecutiveFailures: 3, retryAt: at(3600), lastError: "acme: rate limited" });
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 3, retryAt: at(3600), lastError: "acme: rate limited" });
    await store.putCertState({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null });
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null });
  });
});

describe("the database file", () => {
  test("is created with a private folder and survives reopening", async () => {
    expect(statSync(join(dir, "state")).mode & 0o777).toBe(0o700);
    await open("r1", "www", 0);
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: at(900), lastError: "x" });
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
    expect(MIGRATIONS.length).toBe(7);
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
