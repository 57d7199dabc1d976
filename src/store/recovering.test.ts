/** @module A corrupt audit database is moved aside, never deleted, and the store goes on with a fresh one. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: null, lastError: "x" });
  expect((await store.getCertState("www"))?.consecutiveFailures).toBe(1);
  await store.close();
  const aside = join(dir, "rota.db.corrupt-20300102T030405Z");
  expect(readFileSync(aside, "utf8")).toStartWith("this is not a database");
  expect(logged).toHaveLength(1);
  expect(logged[0]).toStartWith(`error: audit store: ${path} is corrupt (file is not a database); moved it to ${aside} and started a fresh database.`);
  expect(logged[0]).toContain("history and cooldowns start empty");
});

test("corruption found by a query: the file is moved aside and the call answered from a fresh database", async () => {
  const seed = new SqliteAuditStore(path);
  for (let i = 0; i < 2000; i++) await seed.openRenewal({ id: `r${i}-${"x".repeat(80)}`, certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: new Date(i) });
  await seed.close();
  // Checkpointed into the main file; then pages in the middle are overwritten.
  new Database(path).exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const bytes = readFileSync(path);
  bytes.fill(0x55, 4096 * 3, 4096 * 8);
  writeFileSync(path, bytes);

  const store = openRecoveringStore(path, log, clock);
  expect(await store.listRenewals({ limit: 5 })).toEqual([]);
  await store.openRenewal({ id: "after", certId: "www", trigger: "manual", installOnly: false, reason: null, startedAt: clock.now() });
  expect((await store.getRenewal("after"))?.status).toBe("running");
  await store.close();
  expect(readdirSync(dir).filter((n) => n.startsWith("rota.db.corrupt-"))).toContain("rota.db.corrupt-20300102T030405Z");
  expect(logged.filter((l) => l.startsWith("error: audit store:"))).toHaveLength(1);
});

test("other errors are not mistaken for corruption", async () => {
  const store = openRecoveringStore(path, log, clock);
  await store.close();
  await expect(store.getCertState("www")).rejects.toThrow();
  expect(readdirSync(dir).some((n) => n.includes("corrupt"))).toBe(false);
});
