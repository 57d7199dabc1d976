/** @module The renewal plan in SQLite: the upgrade from version 6 (round trips and bulk reads are in the contract, `contract.ts`). */
import { Database } from "bun:sqlite";
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigration, MIGRATIONS } from "./migrations.ts";
import { SqliteAuditStore } from "./sqlite.ts";
import type { RenewalPlan } from "./types.ts";

const T0 = new Date("2030-01-01T00:00:00Z");
const at = (h: number) => new Date(T0.getTime() + h * 3_600_000);
let dir: string;
let store: SqliteAuditStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-plan-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const lifetime: RenewalPlan = { certId: "www", serial: "0a", renewAt: at(1440), reason: "lifetime", ari: null };

test("a version-6 database is upgraded: the plan table added, old rows intact", async () => {
  const v6Path = join(dir, "v6.db");
  const v6 = new Database(v6Path, { create: true });
  for (const m of MIGRATIONS.slice(0, 6)) applyMigration(v6, m);
  v6.exec("PRAGMA user_version = 6");
  v6.exec("INSERT INTO cert_state (cert_id, consecutive_failures, retry_at, last_error) VALUES ('www', 2, NULL, 'boom')");
  v6.close();
  const upgraded = new SqliteAuditStore(v6Path);
  try {
    expect((await upgraded.getCertState("www"))!.consecutiveFailures).toBe(2);
    expect(await upgraded.renewalPlans(["www"])).toEqual(new Map());
    await upgraded.putRenewalPlan(lifetime);
    expect(await upgraded.renewalPlans(["www"])).toEqual(new Map([["www", lifetime]]));
  } finally {
    await upgraded.close();
  }
  const check = new Database(v6Path, { readonly: true });
  expect(check.query("PRAGMA user_version").get()).toEqual({ user_version: MIGRATIONS.length });
  check.close();
});
