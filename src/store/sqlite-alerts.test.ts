/** @module SqliteAuditStore's alert tables: the upgrade from schema 4 (the repeat limit and the delivery log are in the contract, `contract.ts`). */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigration, MIGRATIONS } from "./migrations.ts";
import { SqliteAuditStore } from "./sqlite.ts";
import type { AlertDelivery } from "./types.ts";

const T0 = new Date("2030-01-01T00:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

let dir: string;
let path: string;
let store: SqliteAuditStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-sqlite-alerts-"));
  path = join(dir, "rota.db");
  store = new SqliteAuditStore(path);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const delivery = (alertId: string, seconds: number, over: Partial<AlertDelivery> = {}): AlertDelivery => ({
  alertId,
  sink: "mail",
  event: "renewal.failed",
  certId: "www",
  at: at(seconds),
  outcome: "delivered",
  error: null,
  attempts: 1,
  ...over,
});

test("a version-4 database gains the alert tables, old rows intact", async () => {
  await store.close();
  const v4Path = join(dir, "v4.db");
  const v4 = new Database(v4Path, { create: true });
  for (const m of MIGRATIONS.slice(0, 4)) applyMigration(v4, m);
  v4.exec("PRAGMA user_version = 4");
  v4.exec(`INSERT INTO cert_state (cert_id, consecutive_failures, retry_at, last_error) VALUES ('www', 2, NULL, 'e')`);
  v4.close();

  store = new SqliteAuditStore(v4Path);
  expect((await store.getCertState("www"))?.consecutiveFailures).toBe(2);
  await store.recordDelivery(delivery("a", 0));
  await store.putAlertLimit({ sink: "mail", key: "www", lastSentAt: at(0), held: 0, heldSince: null, lastError: null });
  expect(await store.listDeliveries(5)).toEqual([delivery("a", 0)]);
  await store.close();
  const check = new Database(v4Path, { readonly: true });
  expect(check.query("PRAGMA user_version").get()).toEqual({ user_version: MIGRATIONS.length });
  check.close();
  store = new SqliteAuditStore(v4Path);
});
