/** @module Retention against a real database: the cut-off follows the injected clock and `retention_days`. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../log.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { pruneOnce, startRetention } from "./retention.ts";
import { SqliteAuditStore } from "./sqlite.ts";

const NOW = new Date("2030-06-01T00:00:00Z");
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000);
const clock = new FakeClock(NOW);
const log = createLogger({ level: "silent" });
const certIds = () => ["www"];

let dir: string;
let store: SqliteAuditStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-retention-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  for (const [id, age] of [["old", 11], ["edge", 9], ["new", 1]] as const) {
    await store.openRenewal({ id, certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: daysAgo(age) });
    await store.closeRenewal(id, "succeeded", daysAgo(age), null);
  }
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test("prunes what started more than retention_days before now", async () => {
  expect(await pruneOnce({ store, clock, retentionDays: 10, certIds, log })).toEqual({ renewals: 1, steps: 0, issued: 0, installs: 0, alerts: 0 });
  expect((await store.listRenewals({ limit: 10 })).map((r) => r.id)).toEqual(["new", "edge"]);
  expect(await pruneOnce({ store, clock, retentionDays: 5, certIds, log })).toEqual({ renewals: 1, steps: 0, issued: 0, installs: 0, alerts: 0 });
});

test("the log line counts days in words a person writes: 1 day, 10 days", async () => {
  const lines: string[] = [];
  const capture = createLogger({ level: "info", format: "json", clock, write: (line) => lines.push(line) });
  await pruneOnce({ store, clock, retentionDays: 10, certIds, log: capture });
  await pruneOnce({ store, clock, retentionDays: 1, certIds, log: capture });
  expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
    "audit: pruned 1 renewal(s) with 0 step(s) and 0 issued certificate(s) older than 10 days",
    "audit: pruned 1 renewal(s) with 0 step(s) and 0 issued certificate(s) older than 1 day",
  ]);
});

test("starting prunes once at once; stop waits for it", async () => {
  const retention = startRetention({ store, clock, retentionDays: 5, certIds, log });
  await retention.stop();
  expect((await store.listRenewals({ limit: 10 })).map((r) => r.id)).toEqual(["new"]);
});

test("a first prune told to wait runs once that has settled, fulfilled or rejected; not at all when stopped before", async () => {
  const ids = async () => (await store.listRenewals({ limit: 10 })).map((r) => r.id);
  let release = () => {};
  const stoppedFirst = startRetention({ store, clock, retentionDays: 5, certIds, log }, new Promise<void>((resolve) => (release = resolve)));
  await stoppedFirst.stop();
  release();
  await Bun.sleep(0);
  expect(await ids()).toEqual(["new", "edge", "old"]);

  let fail = (_: Error) => {};
  const waiting = startRetention({ store, clock, retentionDays: 10, certIds, log }, new Promise<void>((_, reject) => (fail = reject)));
  await Bun.sleep(0);
  expect(await ids()).toEqual(["new", "edge", "old"]);
  fail(new Error("the first sweep failed"));
  await Bun.sleep(0);
  await waiting.stop();
  expect(await ids()).toEqual(["new", "edge"]);
});

test("on a cluster only the leader prunes: a follower's daily prune does nothing", async () => {
  const daily = new FakeClock(NOW);
  let leading = false;
  const retention = startRetention({ store, clock: daily, retentionDays: 5, certIds, log, leadership: { isLeader: () => leading } });
  await daily.advance(1);
  expect((await store.listRenewals({ limit: 10 })).map((r) => r.id)).toEqual(["new", "edge", "old"]);
  leading = true;
  await daily.advance(86_400_000);
  await retention.stop();
  expect((await store.listRenewals({ limit: 10 })).map((r) => r.id)).toEqual(["new"]);
});

test("each daily prune forgets the install records of certs the config no longer has, as configured at that prune", async () => {
  const daily = new FakeClock(NOW);
  for (const certId of ["www", "gone"]) {
    await store.saveIssued({ certId, renewalId: "new", leafPem: "L", chainPem: "C", serial: "0a", notBefore: daysAgo(1), notAfter: daysAgo(-89), issuedAt: daysAgo(1) });
    await store.saveInstalled({ certId, target: "nas", serial: "0a", installedAt: daysAgo(1) });
  }
  let configured = ["www", "gone"];
  const retention = startRetention({ store, clock: daily, retentionDays: 10, certIds: () => configured, log });
  await daily.advance(1);
  expect(await store.lastInstalled("gone", "nas")).not.toBeNull();
  configured = ["www"];
  await daily.advance(86_400_000);
  await retention.stop();
  expect(await store.lastInstalled("gone", "nas")).toBeNull();
  expect((await store.lastInstalled("www", "nas"))?.serial).toBe("0a");
});
