/**
 * @module SurrealAuditStore against the test SurrealDB (the real engine behind a loopback
 * WebSocket, `test/harness/surreal.ts`), one database per test: the AuditStore contract,
 * then what only a server store has — its schema record and concurrent migrations, schemas
 * from the future, owners, outages, credentials and TLS, and the password kept out of
 * everything.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola, type ConsolaInstance } from "consola";
import { startSurreal, type TestSurreal } from "../../test/harness/surreal.ts";
import type { SurrealAuditConfig } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
import type { StoreEvent } from "../events.ts";
import { runAuditStoreContract } from "./contract.ts";
import { SPOOL_FILE, SurrealAuditStore, type SurrealStoreOptions } from "./surreal.ts";
import { SURREAL_MIGRATIONS } from "./surreal-migrations.ts";
import type { StepEvent } from "./types.ts";

let server: TestSurreal;
let dir: string;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-surreal-"));
  server = await startSurreal({ dir: join(dir, "server"), engine: "rocksdb" });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Logged {
  log: ConsolaInstance;
  lines: { level: string; text: string }[];
}

function capture(): Logged {
  const lines: { level: string; text: string }[] = [];
  const log = createConsola({
    level: 5,
    reporters: [{ log: (o) => lines.push({ level: o.type, text: o.args.map(String).join(" ") }) }],
  });
  return { log, lines };
}

/** A fresh database with its own EDITOR user, and a store config for it. */
async function freshDatabase(over: Partial<SurrealAuditConfig> = {}): Promise<{ config: SurrealAuditConfig; passwordFile: string; stateDir: string }> {
  const name = `t${++n}_${process.pid}`;
  const password = `canary-${crypto.randomUUID()}`;
  await server.database(name, password);
  const stateDir = mkdtempSync(join(dir, "state-"));
  const passwordFile = join(stateDir, "surreal.pass");
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  return {
    config: {
      backend: "surrealdb",
      url: server.url,
      namespace: "rota",
      database: name,
      username: "rota",
      password: { from: "file", path: passwordFile },
      authLevel: "database",
      caBundle: undefined,
      connectTimeoutSeconds: 5,
      bufferMaxWrites: 10_000,
      retentionDays: 400,
      ...over,
    },
    passwordFile,
    stateDir,
  };
}

function options(stateDir: string, over: Partial<SurrealStoreOptions> = {}): SurrealStoreOptions {
  return { owner: "node-a", buffered: false, log: capture().log, clock: { now: () => new Date() }, stateDir, ...over };
}

runAuditStoreContract("surrealdb", async () => {
  const { config, stateDir } = await freshDatabase();
  let current = await SurrealAuditStore.open(config, options(stateDir));
  return {
    store: current,
    node: "node-a",
    async reopen() {
      await current.close();
      current = await SurrealAuditStore.open(config, options(stateDir));
      return current;
    },
    async stepRows() {
      const db = await server.admin();
      const [rows] = await db.query(`USE NS rota DB ${config.database}; SELECT count() AS n FROM renewal_event GROUP ALL`).collect<[unknown, { n: number }[]]>().then((r) => [r[1]]);
      return rows?.[0]?.n ?? 0;
    },
    async cleanup() {
      await current.close();
    },
  };
});

/** Every table's rows and every definition of the database, as text: what an export would hold. */
async function dump(database: string): Promise<string> {
  const db = await server.admin();
  const [, info] = await db.query(`USE NS rota DB ${database}; INFO FOR DB`).collect<[unknown, { tables: Record<string, string> }]>();
  const tables: Record<string, unknown> = {};
  for (const table of Object.keys(info.tables)) {
    const [, rows] = await db.query(`USE NS rota DB ${database}; SELECT * FROM type::table($t)`, { t: table }).collect<[unknown, unknown[]]>();
    tables[table] = rows;
  }
  const [, ns] = await db.query("USE NS rota; INFO FOR NS").collect();
  return JSON.stringify({ info, ns, tables });
}

async function meta(database: string): Promise<unknown> {
  const db = await server.admin();
  const [, rows] = await db.query(`USE NS rota DB ${database}; SELECT version, min_reader FROM rota_meta:schema`).collect<[unknown, unknown[]]>();
  return rows[0];
}

async function setMeta(database: string, version: number, minReader: number): Promise<void> {
  const db = await server.admin();
  await db.query(`USE NS rota DB ${database}; UPDATE rota_meta:schema SET version = $v, min_reader = $m`, { v: version, m: minReader }).collect();
}

async function thrown(p: Promise<unknown>): Promise<RotaError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RotaError) return err;
    throw err;
  }
  throw new Error("expected a RotaError");
}

const T0 = new Date("2030-01-01T00:00:00Z");
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const step = (i: number): StepEvent => ({ step: "publish", at: at(i), status: "ok", message: `step ${i}`, durationMs: 1 });

describe("schema", () => {
  test("the first connect records the schema: SCHEMAFULL tables and rota_meta:schema {version, min_reader}", async () => {
    const { config, stateDir } = await freshDatabase();
    const store = await SurrealAuditStore.open(config, options(stateDir));
    await store.close();
    expect(await meta(config.database)).toEqual({ version: SURREAL_MIGRATIONS.length, min_reader: 1 });
    const text = await dump(config.database);
    for (const table of ["renewal", "renewal_event", "issued_cert", "issued_chain", "target_install", "cert_state", "alert_limit", "alert_delivery", "rota_meta"]) {
      expect(text).toContain(`DEFINE TABLE ${table} TYPE NORMAL SCHEMAFULL`);
    }
  });

  test("two stores migrating at once: one applies, the other reads the result; both work", async () => {
    const { config, stateDir } = await freshDatabase();
    const [a, b] = await Promise.all([SurrealAuditStore.open(config, options(stateDir)), SurrealAuditStore.open(config, options(stateDir, { owner: "node-b" }))]);
    await a.openRenewal({ id: "ra", certId: "www", trigger: "manual", installOnly: false, reason: null, startedAt: at(0) });
    expect((await b.getRenewal("ra"))?.certId).toBe("www");
    await Promise.all([a.close(), b.close()]);
    expect(await meta(config.database)).toEqual({ version: SURREAL_MIGRATIONS.length, min_reader: 1 });
  });

  test("a newer schema that this rota can still read is used; one that needs a newer reader is refused (exit 2 line)", async () => {
    const { config, stateDir } = await freshDatabase();
    await (await SurrealAuditStore.open(config, options(stateDir))).close();
    const future = SURREAL_MIGRATIONS.length + 1;
    await setMeta(config.database, future, 1);
    const compatible = await SurrealAuditStore.open(config, options(stateDir));
    await compatible.openRenewal({ id: "r1", certId: "www", trigger: "manual", installOnly: false, reason: null, startedAt: at(0) });
    expect((await compatible.getRenewal("r1"))?.status).toBe("running");
    await compatible.close();
    expect(await meta(config.database)).toEqual({ version: future, min_reader: 1 });

    await setMeta(config.database, future, future);
    const err = await thrown(SurrealAuditStore.open(config, options(stateDir)));
    expect(err.code).toBe("store_config");
    expect(err.message).toBe(`audit.database: schema version ${future} needs a rota that reads ≥ ${future}; this rota reads ${SURREAL_MIGRATIONS.length}; upgrade rota`);
  });
});

describe("cluster mode's schema and rows (migration 2)", () => {
  test("a fresh database gets the lease record, unheld at term 0, and the cluster tables", async () => {
    const { config, stateDir } = await freshDatabase();
    const store = await SurrealAuditStore.open(config, options(stateDir));
    const [lock] = (await store.clusterLink().query("SELECT holder, instance, term, expires FROM ONLY cluster_lock:singleton")) as [Record<string, unknown>];
    expect(lock.term).toBe(0);
    expect(lock.holder).toBeUndefined();
    expect(lock.instance).toBeUndefined();
    expect(lock.expires).toBeDefined();
    await store.close();
    const text = await dump(config.database);
    for (const table of ["cluster_lock", "cluster_node", "cluster_event"]) expect(text).toContain(`DEFINE TABLE ${table} TYPE NORMAL SCHEMAFULL`);
  });

  test("a version-1 database is migrated in place: its rows read as before, a running renewal still closes, node its owner", async () => {
    const { config, stateDir } = await freshDatabase();
    const db = await server.admin();
    await db
      .query(
        `USE NS rota DB ${config.database};
         BEGIN; ${SURREAL_MIGRATIONS[0]!.sql} UPSERT rota_meta:schema SET version = 1, min_reader = 1; COMMIT;
         CREATE renewal:old CONTENT { cert_id: "www", trigger: "scheduled", install_only: false, reason: NULL, status: "running", started_at: d"2030-01-01T00:00:00Z",
           finished_at: NULL, error: NULL, owner: "node-a", inserted_at: time::now(), newest: "1" };`,
      )
      .collect();
    const store = await SurrealAuditStore.open(config, options(stateDir, { node: "nas-1" }));
    expect(await meta(config.database)).toEqual({ version: SURREAL_MIGRATIONS.length, min_reader: 1 });
    await store.closeRenewal("old", "succeeded", at(5), null);
    expect(await store.getRenewal("old")).toMatchObject({ status: "succeeded", node: "node-a" });
    await store.close();
  });

  test("a cluster node's store writes its node id on each renewal; issued certs keep term and node", async () => {
    const { config, stateDir } = await freshDatabase();
    const store = await SurrealAuditStore.open(config, options(stateDir, { owner: "nas-1", node: "nas-1" }));
    await store.openRenewal({ id: "r1", certId: "www", trigger: "sync", installOnly: true, reason: null, startedAt: at(0) });
    expect((await store.getRenewal("r1"))?.node).toBe("nas-1");
    expect((await store.listRenewals({ limit: 1 }))[0]?.node).toBe("nas-1");
    expect((await store.latestRenewals(["www"])).get("www")?.node).toBe("nas-1");
    const issued = { certId: "www", renewalId: "r1", leafPem: "leaf", chainPem: "chain", serial: "0a", notBefore: at(0), notAfter: at(90 * 86_400), issuedAt: at(1) };
    await store.saveIssued({ ...issued, term: 7, node: "nas-1" });
    expect(await store.latestIssued("www")).toEqual({ ...issued, term: 7, node: "nas-1" });
    await store.saveInstalled({ certId: "www", target: "files", serial: "0a", installedAt: at(2) });
    expect(await store.lastInstalled("www", "files")).toMatchObject({ term: 7, node: "nas-1" });
    await store.close();
  });

  test("install records are per node: one node's install is not another's, nor a single node's; prune keeps what any node serves", async () => {
    const { config, stateDir } = await freshDatabase();
    const a = await SurrealAuditStore.open(config, options(stateDir, { owner: "nas-1", node: "nas-1" }));
    const b = await SurrealAuditStore.open(config, options(stateDir, { owner: "nas-2", node: "nas-2" }));
    const single = await SurrealAuditStore.open(config, options(stateDir));
    const issued = (serial: string, s: number) => ({ certId: "www", renewalId: "r1", leafPem: "leaf", chainPem: "chain", serial, notBefore: at(s), notAfter: at(s + 90 * 86_400), issuedAt: at(s) });
    await a.saveIssued(issued("0a", 0));
    await a.saveIssued(issued("0b", 10));
    await a.saveInstalled({ certId: "www", target: "cmd", serial: "0b", installedAt: at(11) });
    expect((await a.lastInstalled("www", "cmd"))?.serial).toBe("0b");
    expect(await b.lastInstalled("www", "cmd")).toBeNull();
    expect(await b.lastInstalledSummary("www", "cmd")).toBeNull();
    expect(await single.lastInstalled("www", "cmd")).toBeNull();

    await b.saveInstalled({ certId: "www", target: "cmd", serial: "0a", installedAt: at(12) });
    expect((await b.lastInstalled("www", "cmd"))?.serial).toBe("0a");
    expect((await a.lastInstalled("www", "cmd"))?.serial).toBe("0b");
    const [rows] = (await a.clusterLink().query("SELECT cert_id, target, serial, node FROM target_install ORDER BY node")) as [Record<string, unknown>[]];
    expect(rows).toEqual([
      { cert_id: "www", target: "cmd", serial: "0b", node: "nas-1" },
      { cert_id: "www", target: "cmd", serial: "0a", node: "nas-2" },
    ]);
    // 0a is older than the cut and not the newest, but nas-2 still serves it.
    expect((await a.prune(at(5), ["www"])).issued).toBe(0);
    expect((await b.lastInstalled("www", "cmd"))?.serial).toBe("0a");
    await Promise.all([a.close(), b.close(), single.close()]);
  });

  test("cluster events go through the audit trail's path: stored once, a resend lands on the same row", async () => {
    const { config, stateDir } = await freshDatabase();
    const store = await SurrealAuditStore.open(config, options(stateDir, { buffered: true }));
    const link = store.clusterLink();
    const e = { id: "e1", at: at(3), nodeId: "nas-1", type: "leader_acquired", term: 7, certId: null, serial: null, detail: "nas-1 leads at term 7" };
    await link.recordEvent(e);
    await link.recordEvent(e);
    const [rows] = (await link.query("SELECT at, node_id, type, term, cert_id, serial, detail FROM cluster_event")) as [Record<string, unknown>[]];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ node_id: "nas-1", type: "leader_acquired", term: 7, cert_id: null, serial: null, detail: "nas-1 leads at term 7" });
    await store.close();
  });
});

test("interruptRunning closes only its own owner's running rows", async () => {
  const { config, stateDir } = await freshDatabase();
  const a = await SurrealAuditStore.open(config, options(stateDir, { owner: "node-a" }));
  const b = await SurrealAuditStore.open(config, options(stateDir, { owner: "node-b" }));
  await a.openRenewal({ id: "mine", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(0) });
  await b.openRenewal({ id: "theirs", certId: "api", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(1) });
  expect(await a.interruptRunning(at(10))).toBe(1);
  expect(await a.getRenewal("mine")).toMatchObject({ status: "interrupted", finishedAt: at(10), error: "the daemon stopped during this renewal" });
  expect((await a.getRenewal("theirs"))?.status).toBe("running");
  await Promise.all([a.close(), b.close()]);
});

test("two daemons on one host: the default owners differ; an upgraded daemon still closes the rows its older self wrote under the bare host name, of its own certs only", async () => {
  const { config, stateDir } = await freshDatabase();
  const { defaultOwner } = await import("./open.ts");
  const ownerA = defaultOwner(join(stateDir, "a"), "nas-1");
  const ownerB = defaultOwner(join(stateDir, "b"), "nas-1");
  expect(ownerA).not.toBe(ownerB);
  // Rows an older rota wrote on this host, before owners named the state folder.
  const legacy = await SurrealAuditStore.open(config, options(stateDir, { owner: "nas-1" }));
  await legacy.openRenewal({ id: "old-a", certId: "www", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(0) });
  await legacy.openRenewal({ id: "old-b", certId: "api", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(0) });
  await legacy.close();
  const b = await SurrealAuditStore.open(config, options(stateDir, { owner: ownerB, legacyOwner: "nas-1" }));
  expect(await b.claimCerts(["api"])).toEqual(new Map());
  await b.openRenewal({ id: "b-running", certId: "api", trigger: "scheduled", installOnly: false, reason: null, startedAt: at(1) });

  const a = await SurrealAuditStore.open(config, options(stateDir, { owner: ownerA, legacyOwner: "nas-1" }));
  expect(await a.claimCerts(["www"])).toEqual(new Map());
  expect(await a.interruptRunning(at(10))).toBe(1);
  expect((await a.getRenewal("old-a"))?.status).toBe("interrupted");
  expect((await a.getRenewal("old-b"))?.status).toBe("running");
  expect((await a.getRenewal("b-running"))?.status).toBe("running");
  expect((await a.getRenewal("b-running"))?.node).toBe(ownerB);
  await Promise.all([a.close(), b.close()]);
});

describe("cert claims: daemons without [cluster] sharing a database", () => {
  test("an id another daemon holds is refused, named with that daemon; one given up is free again; a claim survives a restart", async () => {
    const { config, stateDir } = await freshDatabase();
    const a = await SurrealAuditStore.open(config, options(stateDir, { owner: "nas-1/aaaa" }));
    const b = await SurrealAuditStore.open(config, options(stateDir, { owner: "nas-2/bbbb" }));
    expect(await a.claimCerts(["www", "mail"])).toEqual(new Map());
    expect(await b.claimCerts(["www", "api"])).toEqual(new Map([["www", "nas-1/aaaa"]]));
    // Claiming again is idempotent; a restarted daemon keeps its ids.
    await a.close();
    const again = await SurrealAuditStore.open(config, options(stateDir, { owner: "nas-1/aaaa" }));
    expect(await again.claimCerts(["www", "mail"])).toEqual(new Map());
    // Dropped from A's config: B may take it.
    expect(await again.claimCerts(["mail"])).toEqual(new Map());
    expect(await b.claimCerts(["www", "api"])).toEqual(new Map());
    expect(await again.claimCerts(["mail", "www"])).toEqual(new Map([["www", "nas-2/bbbb"]]));
    await Promise.all([again.close(), b.close()]);
  });

  test("many ids (more than one write's worth): all claimed, all refused to another daemon, all given up", async () => {
    const { config, stateDir } = await freshDatabase();
    const a = await SurrealAuditStore.open(config, options(stateDir, { owner: "a/1" }));
    const b = await SurrealAuditStore.open(config, options(stateDir, { owner: "b/2" }));
    const ids = Array.from({ length: 1_200 }, (_, i) => `c${i}`);
    expect(await a.claimCerts(ids)).toEqual(new Map());
    expect(await a.claimCerts(ids)).toEqual(new Map());
    expect((await b.claimCerts([...ids, "own"])).size).toBe(1_200);
    expect(await a.claimCerts([])).toEqual(new Map());
    expect(await b.claimCerts([...ids, "own"])).toEqual(new Map());
    await Promise.all([a.close(), b.close()]);
  });

  test("two daemons claiming one id at once: exactly one gets it", async () => {
    const { config, stateDir } = await freshDatabase();
    const stores = await Promise.all(["x/1", "y/2", "z/3"].map((owner) => SurrealAuditStore.open(config, options(stateDir, { owner }))));
    const results = await Promise.all(stores.map((s) => s.claimCerts(["www"])));
    expect(results.filter((r) => r.size === 0)).toHaveLength(1);
    const winner = ["x/1", "y/2", "z/3"][results.findIndex((r) => r.size === 0)];
    for (const r of results.filter((r) => r.size > 0)) expect(r).toEqual(new Map([["www", winner!]]));
    await Promise.all(stores.map((s) => s.close()));
  });
});

describe("the newest certificate is the one stored last (migration 4)", () => {
  test("a version-3 database is migrated: its rows are ordered by issued_at; a write without stored_at (an older rota's) is stamped by the server", async () => {
    const { config, stateDir } = await freshDatabase();
    const db = await server.admin();
    // Days before now: the server stamps the later write with its own clock.
    const day = (n: number) => `d"${new Date(Date.now() - (30 - n) * 86_400_000).toISOString()}"`;
    const row = (serial: string, storedDay: number, days: number) =>
      `UPSERT issued_cert:["www", "${serial}"] CONTENT { cert_id: "www", serial: "${serial}", renewal_id: "r", leaf_pem: "leaf", chain: issued_chain:c,
         not_before: ${day(storedDay)}, not_after: ${day(storedDay + days)}, issued_at: ${day(storedDay)}, key_type: NULL, names: NULL };`;
    const upTo3 = SURREAL_MIGRATIONS.slice(0, 3).map((m) => m.sql).join("\n");
    await db
      .query(
        `USE NS rota DB ${config.database};
         BEGIN; ${upTo3} UPSERT rota_meta:schema SET version = 3, min_reader = 1; COMMIT;
         UPSERT issued_chain:c SET pem = "chain";
         ${row("0a", 0, 90)} ${row("0b", 10, 30)}`,
      )
      .collect();
    const store = await SurrealAuditStore.open(config, options(stateDir));
    expect(await meta(config.database)).toEqual({ version: SURREAL_MIGRATIONS.length, min_reader: 1 });
    expect((await store.latestIssued("www"))!.serial).toBe("0b");
    // An older rota, which knows no stored_at, stores a 90-day certificate issued "yesterday" by its clock.
    await db.query(`USE NS rota DB ${config.database}; ${row("0c", -1, 90)}`).collect();
    expect((await store.latestIssued("www"))!.serial).toBe("0c");
    await store.close();
  });
});

describe("credentials", () => {
  test("a wrong password is refused as a problem of audit.username, without the password", async () => {
    const { config, stateDir, passwordFile } = await freshDatabase();
    const right = readFileSync(passwordFile, "utf8").trim();
    writeFileSync(passwordFile, "wrong-password-1234\n");
    const err = await thrown(SurrealAuditStore.open(config, options(stateDir)));
    expect(err.code).toBe("store_config");
    expect(err.message).toStartWith(`audit.username: SurrealDB refused "rota" (auth_level database, rota/${config.database}): `);
    expect(err.message).not.toContain("wrong-password-1234");
    expect(err.message).not.toContain(right);
  });

  test("a VIEWER cannot create the schema: the same refusal line", async () => {
    const { config, stateDir, passwordFile } = await freshDatabase();
    await server.database(config.database, readFileSync(passwordFile, "utf8").trim(), "VIEWER");
    const err = await thrown(SurrealAuditStore.open(config, options(stateDir)));
    expect(err.code).toBe("store_config");
    expect(err.message).toStartWith(`audit.username: SurrealDB refused "rota" (auth_level database, rota/${config.database}): `);
  });

  test("a VIEWER on a database whose schema is in place: refused at open, not at the first write", async () => {
    const { config, stateDir, passwordFile } = await freshDatabase();
    await (await SurrealAuditStore.open(config, options(stateDir))).close();
    await server.database(config.database, readFileSync(passwordFile, "utf8").trim(), "VIEWER");
    const err = await thrown(SurrealAuditStore.open(config, options(stateDir)));
    expect(err.code).toBe("store_config");
    expect(err.message).toStartWith(`audit.username: SurrealDB refused "rota" (auth_level database, rota/${config.database}): `);
    expect(err.message).toEndWith(": the user may read but not write; it needs ROLES EDITOR");
    expect(await meta(config.database)).toEqual({ version: SURREAL_MIGRATIONS.length, min_reader: 1 });
    const { checkSurrealAudit } = await import("../doctor/audit-surreal.ts");
    expect(await checkSurrealAudit(config, false)).toEqual([{ id: "audit", status: "fail", message: err.message, hint: "give the user ROLES EDITOR (DEFINE USER … ROLES EDITOR)" }]);
  });

  test("an unreachable server fails within connect_timeout_seconds", async () => {
    const { config, stateDir } = await freshDatabase();
    const started = Date.now();
    const err = await thrown(SurrealAuditStore.open({ ...config, url: "ws://127.0.0.1:9/rpc", connectTimeoutSeconds: 1 }, options(stateDir)));
    expect(err.code).toBe("store_unreachable");
    expect(err.message).toStartWith("audit: SurrealDB at ws://127.0.0.1:9/rpc not reachable after 1 s: ");
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("wss", () => {
  let tlsServer: TestSurreal;
  beforeAll(async () => {
    tlsServer = await startSurreal({ dir: join(dir, "tls-server"), engine: "mem", tls: true });
  });
  afterAll(async () => {
    await tlsServer?.stop();
  });

  const tlsConfig = (stateDir: string, caBundle: string | undefined): SurrealAuditConfig => {
    const passwordFile = join(stateDir, "tls.pass");
    writeFileSync(passwordFile, tlsServer.password, { mode: 0o600 });
    return {
      backend: "surrealdb",
      url: tlsServer.url,
      namespace: "rota",
      database: "rota",
      username: tlsServer.username,
      password: { from: "file", path: passwordFile },
      authLevel: "database",
      caBundle,
      connectTimeoutSeconds: 3,
      bufferMaxWrites: 100,
      retentionDays: 400,
    };
  };

  test("with ca_bundle the server's certificate is trusted", async () => {
    const stateDir = mkdtempSync(join(dir, "state-"));
    const store = await SurrealAuditStore.open(tlsConfig(stateDir, tlsServer.tls!.caPath), options(stateDir));
    await store.putCertState({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
    expect(await store.getCertState("www")).toMatchObject({ certId: "www" });
    await store.close();
  });

  test("without it the connection is refused, naming the certificate problem", async () => {
    const stateDir = mkdtempSync(join(dir, "state-"));
    const err = await thrown(SurrealAuditStore.open(tlsConfig(stateDir, undefined), options(stateDir)));
    expect(err.code).toBe("store_unreachable");
    expect(err.message).toMatch(/not reachable after 3 s: TLS handshake failed: .*certificate/);
  });
});

test("rota doctor's audit check: reachable, credentials, schema; writes nothing", async () => {
  const { checkSurrealAudit } = await import("../doctor/audit-surreal.ts");
  const { config, stateDir, passwordFile } = await freshDatabase();
  const where = `SurrealDB at ${server.url} (rota/${config.database})`;
  expect(await checkSurrealAudit(config, false)).toEqual([{ id: "audit", status: "ok", message: `${where}: reachable, credentials accepted; no schema yet: rota daemon creates it` }]);
  expect(await dump(config.database)).not.toContain("rota_meta");
  await (await SurrealAuditStore.open(config, options(stateDir))).close();
  expect(await checkSurrealAudit(config, false)).toEqual([{ id: "audit", status: "ok", message: `${where}: reachable, credentials accepted, schema version ${SURREAL_MIGRATIONS.length}` }]);
  await setMeta(config.database, 9, SURREAL_MIGRATIONS.length + 1);
  expect((await checkSurrealAudit(config, false))[0]).toMatchObject({
    status: "fail",
    message: `${where}: schema version 9 needs a rota that reads ≥ ${SURREAL_MIGRATIONS.length + 1}; this rota reads ${SURREAL_MIGRATIONS.length}`,
  });
  writeFileSync(passwordFile, "wrong-password-5678\n");
  const refused = (await checkSurrealAudit(config, false))[0]!;
  expect(refused.status).toBe("fail");
  expect(refused.message).toStartWith(`audit.username: SurrealDB refused "rota"`);
  expect(await checkSurrealAudit(config, true)).toEqual([{ id: "audit", status: "ok", message: `${where}: not contacted (--offline)` }]);
});

// Last: it stops and restarts the shared server.
describe("outage", () => {
  test("the password file is read again at each reconnect: a rotated password is picked up", async () => {
    const { config, stateDir, passwordFile } = await freshDatabase();
    const events: StoreEvent[] = [];
    let onEvent = () => {};
    const store = await SurrealAuditStore.open(config, options(stateDir, { buffered: true, onState: (e) => (events.push(e), onEvent()) }));
    const rotated = `rotated-${crypto.randomUUID()}`;
    await server.database(config.database, rotated);
    writeFileSync(passwordFile, `${rotated}\n`);
    await server.restart();
    await new Promise<void>((resolve) => {
      onEvent = () => events.some((e) => e.type === "store.reconnected") && resolve();
      onEvent();
    });
    await store.putCertState({ certId: "www", consecutiveFailures: 2, retryAt: null, lastError: "x", authzFailures: 0, haltedAt: null });
    expect((await store.getCertState("www"))?.consecutiveFailures).toBe(2);
    await store.close();
  });


  test("a server that accepts and never answers (SIGSTOP): the first call out of time marks the store disconnected until the server answers again", async () => {
    const { config, stateDir } = await freshDatabase();
    const { log, lines } = capture();
    const events: StoreEvent[] = [];
    let onEvent = () => {};
    const store = await SurrealAuditStore.open(config, options(stateDir, { buffered: true, log, onState: (e) => (events.push(e), onEvent()) }));
    await server.pause();
    try {
      const started = Date.now();
      const err = await thrown(store.listRenewals({ limit: 10 }));
      expect(err.code).toBe("store_unavailable");
      expect(Date.now() - started).toBeLessThan(6000);
      expect(events).toMatchObject([{ type: "store.disconnected", error: "no answer within 5 s" }]);
      expect(lines.map((l) => l.text)).toContain(`audit: SurrealDB at ${server.url} is not connected (no answer within 5 s); buffering the audit trail, up to 10000 writes`);
      expect(store.health()).toMatchObject({ connected: false, bufferedWrites: 0 });
      // From now on: reads fail fast, the audit trail is buffered.
      const fast = Date.now();
      expect(await thrown(store.getCertState("www"))).toMatchObject({ code: "store_unavailable" });
      expect(Date.now() - fast).toBeLessThan(500);
      await store.openRenewal({ id: "r1", certId: "www", trigger: "manual", installOnly: false, reason: null, startedAt: at(0) });
      expect(store.health()).toMatchObject({ connected: false, bufferedWrites: 1 });
    } finally {
      await server.resume();
    }
    await new Promise<void>((resolve) => {
      onEvent = () => events.some((e) => e.type === "store.reconnected") && resolve();
      onEvent();
    });
    expect(events.find((e) => e.type === "store.reconnected")).toMatchObject({ flushed: 1, dropped: 0 });
    expect(store.health()).toEqual({ backend: "surrealdb", connected: true, bufferedWrites: 0, droppedWrites: 0 });
    expect((await store.getRenewal("r1"))?.status).toBe("running");
    await store.close();
  });

  test("buffered through an outage, overflow by the rule, flushed in order on reconnect; a second outage spools at close", async () => {
    const { config, stateDir, passwordFile } = await freshDatabase({ bufferMaxWrites: 100 });
    const canary = readFileSync(passwordFile, "utf8").trim();
    const { log, lines } = capture();
    const events: StoreEvent[] = [];
    let onEvent = () => {};
    const store = await SurrealAuditStore.open(config, options(stateDir, { buffered: true, log, onState: (e) => (events.push(e), onEvent()) }));
    const waitFor = (type: StoreEvent["type"]) =>
      new Promise<void>((resolve) => {
        onEvent = () => events.some((e) => e.type === type) && resolve();
        onEvent();
      });

    await server.stop();
    await waitFor("store.disconnected");
    for (let r = 1; r <= 5; r++) {
      await store.openRenewal({ id: `r${r}`, certId: `c${r}`, trigger: "scheduled", installOnly: false, reason: null, startedAt: at(r * 100) });
      for (let i = 1; i <= 30; i++) await store.addStep(`r${r}`, step(r * 100 + i));
      await store.closeRenewal(`r${r}`, "succeeded", at(r * 100 + 99), null);
    }
    expect(store.health()).toEqual({ backend: "surrealdb", connected: false, bufferedWrites: 100, droppedWrites: 60 });
    const started = Date.now();
    const err = await thrown(store.listRenewals({ limit: 10 }));
    expect(err.code).toBe("store_unavailable");
    expect(err.message).toBe(`audit: SurrealDB at ${server.url} is not connected`);
    expect(Date.now() - started).toBeLessThan(6000);
    expect(await thrown(store.putCertState({ certId: "c1", consecutiveFailures: 1, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null }))).toMatchObject({ code: "store_unavailable" });

    events.length = 0;
    await server.restart();
    await waitFor("store.reconnected");
    expect(events.find((e) => e.type === "store.reconnected")).toMatchObject({ flushed: 100, dropped: 60 });
    expect(store.health()).toEqual({ backend: "surrealdb", connected: true, bufferedWrites: 0, droppedWrites: 60 });
    const all = await store.listRenewals({ limit: 10 });
    expect(all.map((r) => `${r.id}:${r.status}`)).toEqual(["r5:succeeded", "r4:succeeded", "r3:succeeded", "r2:succeeded", "r1:succeeded"]);
    expect(all.reduce((sum, r) => sum + r.events.length, 0)).toBe(90);
    for (const r of all) expect(r.events.map((e) => e.at.getTime())).toEqual([...r.events.map((e) => e.at.getTime())].sort((x, y) => x - y));
    expect(lines.filter((l) => l.level === "warn").map((l) => l.text)).toEqual(["audit: 60 audit writes dropped while SurrealDB was unreachable (buffer_max_writes = 100)"]);

    // A second outage, and the daemon stops during it: the buffer goes to the spool.
    events.length = 0;
    await server.stop();
    await waitFor("store.disconnected");
    await store.openRenewal({ id: "late", certId: "c1", trigger: "manual", installOnly: false, reason: null, startedAt: at(1000) });
    await store.addStep("late", step(1001));
    await store.closeRenewal("late", "failed", at(1002), "acme: boom");
    await store.close();
    const spool = join(stateDir, SPOOL_FILE);
    expect(statSync(spool).mode & 0o777).toBe(0o600);
    expect(readFileSync(spool, "utf8").trim().split("\n")).toHaveLength(3);

    await server.restart();
    const next = await SurrealAuditStore.open(config, options(stateDir, { buffered: true, log }));
    expect(() => statSync(spool)).toThrow();
    expect(await next.getRenewal("late")).toMatchObject({ status: "failed", error: "acme: boom", events: [{ step: "publish", message: "step 1001" }] });
    await next.close();

    // The password is nowhere: not in a log line, an error, the spool (gone) or the database.
    const text = [...lines.map((l) => l.text), err.message, String(err.cause ?? ""), await dump(config.database)].join("\n");
    expect(text).not.toContain(canary);
    expect(text).toContain("late");
  });
});
