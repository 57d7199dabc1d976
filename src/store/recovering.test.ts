/** @module A corrupt audit database is moved aside, never deleted, and the store goes on with a fresh one. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { FakeClock } from "../testing/fake-clock.ts";
import { openRecoveringStore } from "./recovering.ts";
import { SqliteAuditStore } from "./sqlite.ts";

let dir: string;
let path: string;
let logged: string[];
const clock = new FakeClock("2030-01-02T03:04:05.678Z");
const log = createConsola({ level: 3, reporters: [{ log: (o) => void logged.push(`${o.type}: ${o.args.join(" ")}`) }] });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-recover-"));
  path = join(dir, "rota.db");
  logged = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("a file that is not a database: moved aside at open, a fresh one used, an error logged naming both", async () => {
  writeFileSync(path, "this is not a database ".repeat(100));
  const store = openRecoveringStore(path, log, clock);
  await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: null, lastError: "x", authzFailures: 0, haltedAt: null });
  expect((await store.getCertState("www"))?.consecutiveFailures).toBe(1);
  await store.close();
  const aside = join(dir, "rota.db.corrupt-20300102T030405Z");
  expect(readFileSync(aside, "utf8")).toStartWith("this is not a database");
  expect(logged).toHaveLength(1);
  expect(logged[0]).toStartWith(`error: audit store: ${path} is corrupt (file is not a database); moved it to ${aside} and started a fresh database.`);
  expect(logged[0]).toContain("history and cooldowns start empty");
});

/** A database whose header is fine and whose pages in the middle are not: found by a query, not at open. */
async function damagedInTheMiddle(): Promise<void> {
  const seed = new SqliteAuditStore(path);
  for (let i = 0; i < 2000; i++) await seed.openRenewal({ id: `r${i}-${"x".repeat(80)}`, certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: new Date(i) });
  await seed.close();
  // Checkpointed into the main file; then pages in the middle are overwritten.
  const raw = new Database(path);
  raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  raw.close();
  const bytes = readFileSync(path);
  bytes.fill(0x55, 4096 * 3, 4096 * 8);
  writeFileSync(path, bytes);
}

const ASIDE = "rota.db.corrupt-20300102T030405Z";

test("corruption found by a query: the file is moved aside and the call answered from a fresh database", async () => {
  await damagedInTheMiddle();
  const store = openRecoveringStore(path, log, clock);
  expect(await store.listRenewals({ limit: 5 })).toEqual([]);
  await store.openRenewal({ id: "after", certId: "www", trigger: "manual", installOnly: false, reason: null, startedAt: clock.now() });
  expect((await store.getRenewal("after"))?.status).toBe("running");
  await store.close();
  // The store had the file open in WAL mode: its journal moved with it, not removed by closing it.
  expect(readdirSync(dir).filter((n) => n.startsWith(ASIDE)).sort()).toEqual([ASIDE, `${ASIDE}-shm`, `${ASIDE}-wal`]);
  expect(logged.filter((l) => l.startsWith("error: audit store:"))).toHaveLength(1);
});

test("other errors are not mistaken for corruption", async () => {
  const store = openRecoveringStore(path, log, clock);
  await store.close();
  await expect(store.getCertState("www")).rejects.toThrow();
  expect(readdirSync(dir).some((n) => n.includes("corrupt"))).toBe(false);
});

test("a WAL-mode database left by a crash moves aside with its -wal and -shm; the fresh one does not replay the old journal", async () => {
  const crashed = mkdtempSync(join(tmpdir(), "rota-crashed-"));
  try {
    const seed = new SqliteAuditStore(join(crashed, "rota.db"));
    for (let i = 0; i < 50; i++) await seed.openRenewal({ id: `r${i}`, certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: new Date(i) });
    new Database(join(crashed, "rota.db")).exec("PRAGMA wal_checkpoint(TRUNCATE)");
    // Written after the checkpoint: these pages live only in the -wal, as after a crash.
    for (let i = 0; i < 10; i++) await seed.addStep(`r${i}`, { step: "key", at: new Date(i), status: "ok", message: "m", durationMs: 1 });
    for (const f of ["rota.db", "rota.db-wal", "rota.db-shm"]) copyFileSync(join(crashed, f), join(dir, f));
    await seed.close();
  } finally {
    rmSync(crashed, { recursive: true, force: true });
  }
  const walSize = statSync(`${path}-wal`).size;
  expect(walSize).toBeGreaterThan(0);
  const bytes = readFileSync(path);
  bytes.fill(0x55, 0, 100);
  writeFileSync(path, bytes);

  const store = openRecoveringStore(path, log, clock);
  expect(readdirSync(dir).filter((n) => n.startsWith(ASIDE)).sort()).toEqual([ASIDE, `${ASIDE}-shm`, `${ASIDE}-wal`]);
  expect(statSync(join(dir, `${ASIDE}-wal`)).size).toBe(walSize);
  expect(await store.listRenewals({ limit: 5 })).toEqual([]);
  expect(await store.getRenewal("r1")).toBeNull();
  await store.close();
});

test("not a thenable: awaiting the store, or returning it from an async function, gives the store", async () => {
  const store = openRecoveringStore(path, log, clock);
  expect(await store).toBe(store);
  expect(await (async () => store)()).toBe(store);
  expect((store as unknown as Record<symbol, unknown>)[Symbol.toPrimitive]).toBeUndefined();
  await store.close();
});

describe("the corrupt file cannot be moved aside (its destination is taken)", () => {
  beforeEach(() => {
    mkdirSync(join(dir, ASIDE));
    writeFileSync(join(dir, ASIDE, "someone's"), "");
  });

  test("at open: the file stays where it was, the store runs in memory and the error names both paths", async () => {
    writeFileSync(path, "this is not a database ".repeat(100));
    const store = openRecoveringStore(path, log, clock);
    await store.putCertState({ certId: "www", consecutiveFailures: 2, retryAt: null, lastError: "x", authzFailures: 0, haltedAt: null });
    expect((await store.getCertState("www"))?.consecutiveFailures).toBe(2);
    await store.close();
    expect(readFileSync(path, "utf8")).toStartWith("this is not a database");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toStartWith(`error: audit store: ${path} is corrupt (file is not a database), and moving it to ${join(dir, ASIDE)} to start a fresh database failed (`);
    expect(logged[0]).toContain("running on an in-memory database until the daemon restarts");
  });

  test("found by a query: the store is not left closed; this call and the next are answered", async () => {
    await damagedInTheMiddle();
    const store = openRecoveringStore(path, log, clock);
    expect(await store.listRenewals({ limit: 5 })).toEqual([]);
    await store.openRenewal({ id: "after", certId: "www", trigger: "manual", installOnly: false, reason: null, startedAt: clock.now() });
    expect((await store.getRenewal("after"))?.status).toBe("running");
    await store.close();
    expect(logged.filter((l) => l.includes("running on an in-memory database"))).toHaveLength(1);
  });
});
