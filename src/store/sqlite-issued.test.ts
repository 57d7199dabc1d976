/**
 * @module SqliteAuditStore's issued certificates as a tick reads them (the summaries
 * themselves are in the contract, `contract.ts`): each distinct chain stored once, the upgrade from version 5 that moves
 * chains into their own table, and the query plan that keeps each cert's newest renewal
 * an indexed lookup however long its history.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { x509 } from "../crypto/x509.ts";
import { applyMigration, MIGRATIONS } from "./migrations.ts";
import { LATEST_RENEWALS_SQL, LATEST_SUMMARIES_SQL, SqliteAuditStore } from "./sqlite.ts";
import type { IssuedCert } from "./types.ts";

const T0 = new Date("2030-01-01T00:00:00Z");
const DAY = 86_400_000;

let dir: string;
let path: string;
let store: SqliteAuditStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-sqlite-issued-"));
  path = join(dir, "rota.db");
  store = new SqliteAuditStore(path);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function leaf(serialHex: string, names: string[]): Promise<string> {
  const x = await x509();
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex,
    name: `CN=${names[0]}`,
    notBefore: T0,
    notAfter: new Date(T0.getTime() + 90 * DAY),
    keys,
    signingAlgorithm: alg,
    extensions: [new x.SubjectAlternativeNameExtension(names.map((value) => ({ type: "dns" as const, value })))],
  });
  return cert.toString("pem");
}

function issued(certId: string, serial: string, leafPem: string, chainPem: string, notAfterDays = 90): IssuedCert {
  return { certId, renewalId: `r-${serial}`, leafPem, chainPem, serial, notBefore: T0, notAfter: new Date(T0.getTime() + notAfterDays * DAY), issuedAt: T0 };
}

function chainsStored(): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("SELECT pem FROM issued_chain ORDER BY pem").all() as { pem: string }[]).map((r) => r.pem);
  } finally {
    db.close();
  }
}

describe("chains", () => {
  test("each distinct chain is stored once, read back with every certificate it issued, and pruned with the last of them", async () => {
    for (let i = 0; i < 5; i++) await store.saveIssued(issued(`c${i}`, "0a", `leaf ${i}`, "intermediate A"));
    await store.saveIssued(issued("c0", "0b", "leaf 0b", "intermediate B", 120));
    expect(chainsStored()).toEqual(["intermediate A", "intermediate B"]);
    expect((await store.latestIssued("c3"))!.chainPem).toBe("intermediate A");
    expect((await store.latestIssued("c0"))!.chainPem).toBe("intermediate B");
    await store.saveInstalled({ certId: "c1", target: "files", serial: "0a", installedAt: T0 });
    expect((await store.lastInstalled("c1", "files"))!.chainPem).toBe("intermediate A");

    // c0's older certificate is pruned, and intermediate A stays: the others still use it.
    expect((await store.prune(new Date(T0.getTime() + DAY), ["c0", "c1", "c2", "c3", "c4"])).issued).toBe(1);
    expect(chainsStored()).toEqual(["intermediate A", "intermediate B"]);
    await store.saveIssued(issued("c0", "0c", "leaf 0c", "intermediate C", 150));
    await store.prune(new Date(T0.getTime() + DAY), ["c0", "c1", "c2", "c3", "c4"]);
    expect(chainsStored()).toEqual(["intermediate A", "intermediate C"]);
    expect((await store.latestIssued("c0"))!.chainPem).toBe("intermediate C");
  });
});

test("a version-5 database is upgraded: chains stored once, summaries filled from the stored leaves, old rows intact", async () => {
  const v5Path = join(dir, "v5.db");
  const v5 = new Database(v5Path, { create: true });
  for (const m of MIGRATIONS.slice(0, 5)) applyMigration(v5, m);
  v5.exec("PRAGMA user_version = 5");
  const insert = v5.query(
    `INSERT INTO issued_cert (serial, cert_id, renewal_id, leaf_pem, chain_pem, not_before, not_after, issued_at)
     VALUES ($serial, $cert, $renewal, $leaf, $chain, $nb, $na, $at)`,
  );
  const www = await leaf("0a", ["www.example.com"]);
  const rows = [issued("www", "0a", www, "intermediate A"), issued("api", "0b", "garbage", "intermediate A"), issued("old", "0c", "garbage", "intermediate B")];
  for (const r of rows) {
    insert.run({ serial: r.serial, cert: r.certId, renewal: r.renewalId, leaf: r.leafPem, chain: r.chainPem, nb: r.notBefore.getTime(), na: r.notAfter.getTime(), at: r.issuedAt.getTime() });
  }
  v5.exec("INSERT INTO target_install (cert_id, target, serial, installed_at) VALUES ('www', 'files', '0a', 0)");
  v5.close();

  const upgraded = new SqliteAuditStore(v5Path);
  try {
    for (const r of rows) expect(await upgraded.latestIssued(r.certId)).toEqual(r);
    expect(await upgraded.latestIssuedSummaries(["www", "api"])).toEqual(new Map([["www", { serial: "0a", notBefore: T0, notAfter: rows[0]!.notAfter, keyType: "ecdsa-p256", names: ["www.example.com"] }]]));
    expect((await upgraded.lastInstalled("www", "files"))!.chainPem).toBe("intermediate A");
    await upgraded.saveIssued(issued("api", "0d", "leaf 0d", "intermediate A", 120));
  } finally {
    await upgraded.close();
  }
  const check = new Database(v5Path, { readonly: true });
  expect(check.query("PRAGMA user_version").get()).toEqual({ user_version: MIGRATIONS.length });
  expect(check.query("SELECT pem FROM issued_chain ORDER BY pem").all()).toEqual([{ pem: "intermediate A" }, { pem: "intermediate B" }]);
  expect(check.query("SELECT name FROM pragma_table_info('issued_cert') WHERE name = 'chain_pem'").all()).toEqual([]);
  check.close();
});

test("a version-8 database is upgraded: each cert's newest is the one stored last, not the one that expires last", async () => {
  const v8Path = join(dir, "v8.db");
  const v8 = new Database(v8Path, { create: true });
  for (const m of MIGRATIONS.slice(0, 8)) applyMigration(v8, m);
  v8.exec("PRAGMA user_version = 8");
  v8.exec("INSERT INTO issued_chain (id, pem) VALUES (1, 'intermediate')");
  const insert = v8.query(
    `INSERT INTO issued_cert (serial, cert_id, renewal_id, leaf_pem, chain_id, not_before, not_after, issued_at)
     VALUES ($serial, $cert, 'r', 'leaf', 1, $nb, $na, $at)`,
  );
  // www: a 90-day certificate, then a 30-day one after a lifetime cut; api: two stored in the same millisecond.
  const row = (cert: string, serial: string, storedDay: number, days: number) =>
    insert.run({ serial, cert, nb: T0.getTime() + storedDay * DAY, na: T0.getTime() + (storedDay + days) * DAY, at: T0.getTime() + storedDay * DAY });
  row("www", "0a", 0, 90);
  row("www", "0b", 10, 30);
  row("api", "0d", 5, 30);
  row("api", "0c", 5, 90);
  v8.close();

  const upgraded = new SqliteAuditStore(v8Path);
  try {
    expect((await upgraded.latestIssued("www"))!.serial).toBe("0b");
    expect((await upgraded.latestIssued("api"))!.serial).toBe("0c");
    await upgraded.saveIssued(issued("www", "0e", "leaf", "intermediate", 10));
    expect((await upgraded.latestIssued("www"))!.serial).toBe("0e");
  } finally {
    await upgraded.close();
  }
  const check = new Database(v8Path, { readonly: true });
  expect(check.query("SELECT cert_id, serial, seq FROM issued_cert ORDER BY cert_id, seq").all()).toEqual([
    { cert_id: "api", serial: "0d", seq: 1 },
    { cert_id: "api", serial: "0c", seq: 2 },
    { cert_id: "www", serial: "0a", seq: 1 },
    { cert_id: "www", serial: "0b", seq: 2 },
    { cert_id: "www", serial: "0e", seq: 3 },
  ]);
  check.close();
});

test("each cert's newest issued certificate is the first entry of an index in that order: nothing scanned, nothing sorted", () => {
  const db = new Database(path, { readonly: true });
  const plan = (db.query(`EXPLAIN QUERY PLAN ${LATEST_SUMMARIES_SQL}`).all({ ids: "[]" }) as { detail: string }[]).map((r) => r.detail);
  db.close();
  expect(plan).toContain("SEARCH i USING INTEGER PRIMARY KEY (rowid=?)");
  expect(plan).toContain("SEARCH i2 USING COVERING INDEX issued_cert_newest (cert_id=?)");
  expect(plan.filter((d) => /^SCAN i2?\b/.test(d) || /TEMP B-TREE/.test(d))).toEqual([]);
});

test("each cert's newest renewal is an indexed lookup per cert, never a scan of the history", async () => {
  // Enough history that the planner's choice is the one a big database gets.
  for (let i = 0; i < 200; i++) {
    await store.openRenewal({ id: `r${i}`, certId: `c${i % 20}`, trigger: "scheduled", installOnly: false, reason: null, startedAt: new Date(T0.getTime() + i * 1000) });
  }
  const latest = await store.latestRenewals(["c3", "c7", "absent"]);
  expect([...latest.entries()].map(([cert, r]) => `${cert}:${r.id}`)).toEqual(["c3:r183", "c7:r187"]);

  const db = new Database(path, { readonly: true });
  const plan = (db.query(`EXPLAIN QUERY PLAN ${LATEST_RENEWALS_SQL}`).all({ ids: "[]" }) as { detail: string }[]).map((r) => r.detail);
  db.close();
  expect(plan.some((d) => /^SEARCH r2 USING (COVERING )?INDEX renewal_cert \(cert_id=\?\)$/.test(d))).toBe(true);
  expect(plan.some((d) => /^SEARCH r USING INTEGER PRIMARY KEY \(rowid=\?\)$/.test(d))).toBe(true);
  // No pass over every renewal, and no sort of a cert's history to find its newest.
  expect(plan.filter((d) => /^SCAN r2?\b/.test(d) || /TEMP B-TREE/.test(d))).toEqual([]);
});
