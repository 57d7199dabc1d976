/**
 * End to end: a daemon started on an audit database from an older rota backs it up
 * before migrating it, and refuses to migrate when the backup cannot be made; a renewal
 * process from a binary swapped under a running daemon refuses to run (issue 15 §6), also
 * when the swap is install.sh's (a rename over the running file).
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHILD_COMMAND } from "../../src/pipeline/child-command.ts";
import { applyMigration, MIGRATIONS } from "../../src/store/migrations.ts";
import { makeTempDir, removeTempDir, ROTA_BIN, runRota, startDaemon, waitFor } from "../harness/index.ts";
import { audit, list, localCaConfig, waitForFile } from "./helpers.ts";

let dir: string;
let config: string;
let db: string;

beforeEach(() => {
  dir = makeTempDir("rota-upgrade-");
  config = join(dir, "rota.toml");
  db = join(dir, "audit", "rota.db");
  writeFileSync(config, localCaConfig({ extra: `\n[audit]\npath = "audit/rota.db"\n` }));
  mkdirSync(join(dir, "audit"), { mode: 0o700 });
  // What a rota at schema version 1 left: one renewal.
  const v1 = new Database(db, { create: true });
  applyMigration(v1, MIGRATIONS[0]!);
  v1.exec("PRAGMA user_version = 1");
  v1.exec(`INSERT INTO renewal (id, cert_id, trigger, status, started_at) VALUES ('old', 'app', 'manual', 'succeeded', 1893456000000)`);
  v1.close();
});

afterEach(() => {
  Bun.spawnSync(["chattr", "-i", join(dir, "audit")]);
  removeTempDir(dir);
});

function contents(file: string): { version: unknown; renewals: unknown[] } {
  const d = new Database(file, { readonly: true });
  try {
    return { version: d.query("PRAGMA user_version").get(), renewals: d.query("SELECT id, cert_id, status FROM renewal WHERE id = 'old'").all() };
  } finally {
    d.close();
  }
}

test("a version-1 database is copied aside, then migrated; the copy opens at version 1 with the same rows", async () => {
  const before = contents(db);
  const daemon = startDaemon(config);
  try {
    await waitForFile(join(dir, "certs", "app", "cert.pem"));
  } finally {
    expect(await daemon.stop()).toBe(0);
  }
  const backups = readdirSync(join(dir, "audit")).filter((f) => f.endsWith(".bak"));
  expect(backups).toHaveLength(1);
  expect(backups[0]).toMatch(new RegExp(`^rota\\.db\\.pre-v${MIGRATIONS.length}-\\d{8}T\\d{6}Z\\.bak$`));
  const backup = join(dir, "audit", backups[0]!);
  expect(statSync(backup).mode & 0o777).toBe(0o600);
  expect(contents(backup)).toEqual(before);
  expect(contents(db)).toEqual({ version: { user_version: MIGRATIONS.length }, renewals: before.renewals });
});

test("an audit folder that cannot be written: exit 2 naming audit.path, the database unchanged", async () => {
  const bytes = readFileSync(db);
  expect(Bun.spawnSync(["chattr", "+i", join(dir, "audit")]).exitCode).toBe(0);
  const r = await runRota(["daemon", "--config", config], { timeoutMs: 20_000 });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("audit.path");
  expect(readFileSync(db).equals(bytes)).toBe(true);
});

test("a backup that fails otherwise: exit 1 saying nothing changed, the database unchanged", async () => {
  const before = contents(db);
  // Every name the backup can take in the next half minute is a folder already.
  const now = Date.now();
  for (let s = -2; s < 30; s++) {
    const stamp = new Date(now + s * 1000).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    mkdirSync(`${db}.pre-v${MIGRATIONS.length}-${stamp}.bak`);
  }
  const r = await runRota(["daemon", "--config", config], { timeoutMs: 20_000 });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`sqlite: cannot back up ${db} before migrating v1→v${MIGRATIONS.length}: `);
  expect(r.stderr).toContain("; nothing changed");
  // Opening it switched the file to WAL mode, a header byte; its schema and rows are as they were.
  expect(contents(db)).toEqual(before);
});

test("a renewal worker asked by a daemon of another version refuses the renewal", async () => {
  const { version } = JSON.parse((await runRota(["version", "--json"])).stdout) as { version: string };
  const cert = { id: "app", domains: ["app.example"], install: ["disk"] };
  const request = {
    cert,
    ca: { name: "internal", type: "local", options: {} },
    dcv: null,
    installs: [{ name: "disk", type: "filesystem", options: {}, verifyServed: null }],
    renewalId: "r1",
    trigger: "manual",
    latestIssued: null,
    daemon: { version: "0.0.1", commit: "3f2a9c1d0b7e" },
  };
  const hello = { hello: { stateDir: join(dir, "state") } };
  const r = await runRota([CHILD_COMMAND], { input: `${JSON.stringify(hello)}\n${JSON.stringify({ renew: request })}\n` });
  expect(r.code).toBe(0);
  const outcome = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { outcome: { ok: boolean; error: { code: string; message: string } } };
  expect(outcome.outcome.ok).toBe(false);
  expect(outcome.outcome.error.code).toBe("binary_replaced");
  expect(outcome.outcome.error.message).toBe(`rota was replaced while the daemon runs (daemon 0.0.1, binary ${version}): restart the daemon`);
});

test("a binary renamed over the running daemon's (install.sh's upgrade): the next renewal runs the new one, which refuses with the restart message; no cooldown", async () => {
  const { version, commit } = JSON.parse((await runRota(["version", "--json"])).stdout) as { version: string; commit: string };
  const bin = join(dir, "bin", "rota");
  mkdirSync(join(dir, "bin"));
  copyFileSync(ROTA_BIN, bin);
  chmodSync(bin, 0o755);
  // Another build: this one with another commit in its bytes (one string of the same length; nothing checks them).
  const other = Buffer.from(readFileSync(ROTA_BIN).toString("latin1").replaceAll(commit, "0".repeat(commit.length)), "latin1");
  writeFileSync(config, localCaConfig().replace("check_interval_seconds = 1", "check_interval_seconds = 3600"));
  // Issued by a first daemon, so that the one under test starts no renewal (no worker) before the swap.
  const first = startDaemon(config);
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
  expect(await first.stop()).toBe(0);
  const daemon = startDaemon(config, { bin });
  try {
    await daemon.waitForOutput("listening on");
    await waitFor(async () => (await list(join(dir, "rota.sock")))[0]?.status === "ok", 10_000, 100, "app looked at");
    writeFileSync(`${bin}.new`, other, { mode: 0o755 });
    renameSync(`${bin}.new`, bin);
    const renew = await runRota(["renew", "app", "--force", "--wait", "--config", config]);
    const message = `rota was replaced while the daemon runs (daemon ${version} ${commit}, binary ${version} ${"0".repeat(commit.length)}): restart the daemon`;
    expect(renew.code).toBe(1);
    expect(renew.stdout + renew.stderr).toContain(message);
    expect(renew.stdout + renew.stderr).not.toContain("(deleted)");
    const socket = join(dir, "rota.sock");
    await waitFor(async () => (await audit(socket, "app"))[0]?.status === "failed", 10_000, 100, "the failed row");
    expect((await audit(socket, "app"))[0]!.error).toBe(message);
    await daemon.waitForOutput(`${message}; no cooldown for the cert, it is tried again at the next check`);
    expect((await list(socket))[0]!.retry_at).toBeNull();
  } finally {
    expect(await daemon.stop()).toBe(0);
  }
});
