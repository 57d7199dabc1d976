/**
 * End to end, on the local CA: the installed set is guarded whole. Each way of damaging
 * `<dir>/<id>/{privkey,cert,chain,fullchain}.pem` is repaired at the next tick from the
 * store (install-only, no new order, the same serial), with the reason in the audit row;
 * a damaged set that cannot be repaired never shows as ok; a symlink planted at
 * `<dir>/<id>` is refused and whatever it points to is left alone; an audit database
 * corrupted while the daemon runs is moved aside and the next certificate lands in a fresh one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, chownSync, closeSync, fstatSync, mkdirSync, openSync, writeSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, list, localCaConfig, read, serialOf, waitForFile, type AuditRow } from "./helpers.ts";

type Row = AuditRow & { install_only: boolean; reason: string | null };

let dir: string;
let certDir: string;
let socket: string;
let daemon: Daemon | undefined;
let serial: string;

const at = (file: string) => join(certDir, file);

beforeAll(async () => {
  dir = makeTempDir("rota-repair-");
  certDir = join(dir, "certs", "app");
  socket = join(dir, "rota.sock");
  writeFileSync(join(dir, "rota.toml"), localCaConfig());
  daemon = startDaemon(join(dir, "rota.toml"));
  await waitForFile(at("cert.pem"));
  await waitFor(async () => (await list(socket).catch(() => []))[0]?.status === "ok", 15_000, 100, "status ok");
  serial = serialOf(at("cert.pem"));
});

afterAll(async () => {
  Bun.spawnSync(["chattr", "-i", certDir]);
  await daemon?.stop();
  removeTempDir(dir);
});

/** The first finished renewal of `app` started at or after `since` (ms) that matches. */
async function nextRow(since: number, pred: (r: Row) => boolean): Promise<Row> {
  return waitFor(
    async () => ((await audit(socket, "app").catch(() => [])) as Row[]).find((r) => r.finished_at !== null && Date.parse(r.started_at) >= since && pred(r)),
    15_000,
    50,
    "a matching renewal of app",
  );
}

/** The set as install writes it: the stored key, leaf + chain, modes 0600/0644, the same serial. */
function expectWholeSet(): void {
  expect(read(at("privkey.pem"))).toBe(read(join(dir, "state", "keys", "app.key")));
  expect(read(at("fullchain.pem"))).toBe(read(at("cert.pem")) + read(at("chain.pem")));
  expect(["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"].map((f) => statSync(at(f)).mode & 0o777)).toEqual([0o600, 0o644, 0o644, 0o644]);
  expect(statSync(certDir).mode & 0o777).toBe(0o755);
  const daemonUid = process.getuid!();
  expect([certDir, ...["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"].map(at)].map((p) => statSync(p).uid)).toEqual(Array(5).fill(daemonUid));
  expect(serialOf(at("cert.pem"))).toBe(serial);
}

describe("a damaged set is repaired at the next tick, without a new order", () => {
  const cases: Array<[string, () => void, string]> = [
    ["privkey.pem deleted", () => rmSync(at("privkey.pem")), "privkey.pem is missing"],
    ["fullchain.pem emptied", () => writeFileSync(at("fullchain.pem"), ""), "fullchain.pem is empty"],
    ["chain.pem deleted", () => rmSync(at("chain.pem")), "chain.pem is missing"],
    ["the key's mode changed to 0644", () => chmodSync(at("privkey.pem"), 0o644), "privkey.pem has mode 0644, expected 0600"],
    // Anyone could swap the key or certificate nginx reads: the folder's mode is put back too.
    [
      "the folder made world-writable, cert.pem 0666",
      () => {
        chmodSync(certDir, 0o777);
        chmodSync(at("cert.pem"), 0o666);
      },
      "app folder has mode 0777, writable by others",
    ],
    ["the folder alone made group-writable", () => chmodSync(certDir, 0o775), "app folder has mode 0775, writable by its group"],
    // Without `owner`, the daemon (which wrote it) is the key's owner: user nobody could read it.
    ...(process.getuid?.() === 0
      ? ([["privkey.pem handed to nobody", () => chownSync(at("privkey.pem"), 65534, -1), "privkey.pem is owned by uid 65534, expected 0"]] as Array<[string, () => void, string]>)
      : []),
    [
      "privkey.pem replaced by a different key",
      () => writeFileSync(at("privkey.pem"), Bun.spawnSync(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], { stdout: "pipe" }).stdout.toString()),
      "privkey.pem does not match the certificate in cert.pem",
    ],
  ];

  for (const [name, damage, reason] of cases) {
    test(name, async () => {
      const since = Date.now();
      damage();
      const row = await nextRow(since, () => true);
      expect(row).toMatchObject({ status: "succeeded", install_only: true, reason: `files: damaged: ${reason}`, error: null });
      expect(row.events.map((e) => [e.step, e.status])).toEqual([
        ["key", "ok"],
        ["verify", "ok"],
        ["install", "ok"],
      ]);
      expectWholeSet();
      await waitFor(async () => (await list(socket))[0]!.status === "ok", 5_000, 50, "status ok again");
    });
  }

  test("rota audit prints the reason", async () => {
    const r = await runRota(["audit", "app", "--limit", "1", "--socket", socket]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("(scheduled, install only, renewal ");
    expect(r.stdout).toContain("\n  reason: files: damaged: privkey.pem does not match the certificate in cert.pem\n");
  });
});

describe("a damaged set that cannot be repaired yet", () => {
  test("is never shown as ok once looked at, and is repaired once it can be", async () => {
    const since = Date.now();
    rmSync(at("privkey.pem"));
    expect(Bun.spawnSync(["chattr", "+i", certDir]).exitCode).toBe(0);
    try {
      const failed = await nextRow(since, (r) => r.status === "failed");
      expect(failed).toMatchObject({ install_only: true, reason: "files: damaged: privkey.pem is missing" });
      for (let i = 0; i < 10; i++) expect((await list(socket))[0]!.status).not.toBe("ok");
    } finally {
      Bun.spawnSync(["chattr", "-i", certDir]);
    }
    const repairedAfter = Date.now();
    await nextRow(repairedAfter, (r) => r.status === "succeeded");
    expectWholeSet();
  });
});

describe("a symlink planted at <dir>/<id>", () => {
  test("is refused, the audit row says so, and the folder it points to is untouched", async () => {
    const victim = join(dir, "victim");
    mkdirSync(victim, { mode: 0o700 });
    writeFileSync(join(victim, "cert.pem"), "precious\n", { mode: 0o640 });
    const before = { entries: readdirSync(victim), mode: statSync(victim).mode, file: statSync(join(victim, "cert.pem")) };

    const since = Date.now();
    rmSync(certDir, { recursive: true });
    symlinkSync(victim, certDir);
    const row = await nextRow(since, (r) => r.status === "failed");
    expect(row).toMatchObject({ install_only: true, reason: "files: damaged: app is a symlink" });
    expect(row.error).toBe(`filesystem files: ${certDir} is a symlink; refusing to write through it`);
    expect((await list(socket))[0]!.status).not.toBe("ok");

    expect(readdirSync(victim)).toEqual(before.entries);
    expect(statSync(victim).mode).toBe(before.mode);
    expect(readFileSync(join(victim, "cert.pem"), "utf8")).toBe("precious\n");
    expect(statSync(join(victim, "cert.pem"))).toMatchObject({ mode: before.file.mode, uid: before.file.uid, gid: before.file.gid, ino: before.file.ino });

    // The link removed, the set comes back from the store.
    const back = Date.now();
    rmSync(certDir);
    await nextRow(back, (r) => r.status === "succeeded");
    expectWholeSet();
  });
});

describe("the audit database corrupted while the daemon runs", () => {
  const PAGE = 4096;
  test("is moved aside at the daemon's next query; the next renewal's certificate is in the fresh one", async () => {
    const db = join(dir, "state", "rota.db");
    const before = serialOf(at("cert.pem"));
    // Everything in the main file, then every page after the first overwritten in place. A
    // write of the first page alone tells the daemon's connection its cached pages are stale:
    // its next statement reads the damage, and SQLite reports the database corrupt.
    const raw = new Database(db);
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const fd = openSync(db, "r+");
    writeSync(fd, Buffer.alloc(fstatSync(fd).size - PAGE, 0x55), 0, undefined, PAGE);
    closeSync(fd);
    const { user_version } = raw.query("PRAGMA user_version").get() as { user_version: number };
    raw.exec(`PRAGMA user_version = ${user_version}`);
    raw.close();
    const since = Date.now();

    const r = await runRota(["renew", "app", "--force", "--wait", "--socket", socket]);
    expect(r.code).toBe(0);
    const aside = readdirSync(join(dir, "state")).filter((n) => /^rota\.db\.corrupt-\d{8}T\d{6}Z$/.test(n));
    expect(aside).toHaveLength(1);
    expect(daemon!.output()).toContain(`audit store: ${db} is corrupt (`);
    expect(daemon!.output()).toContain(`moved it to ${join(dir, "state", aside[0]!)} and started a fresh database`);

    const renewed = serialOf(at("cert.pem"));
    expect(renewed).not.toBe(before);
    const shown = await runRota(["show", "app", "--json", "--socket", socket]);
    expect(shown.code).toBe(0);
    expect((JSON.parse(shown.stdout) as { latest_issued: { serial: string } }).latest_issued.serial).toBe(renewed);
    // History starts empty: what the fresh database holds is from after the move.
    const rows = await audit(socket, "app");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => Date.parse(row.started_at) >= since)).toBe(true);
    expect(rows[0]).toMatchObject({ status: "succeeded", trigger: "manual" });
    expect(rows[0]!.events.find((e) => e.step === "persist")?.status).toBe("ok");
    const fresh = new Database(db, { readonly: true });
    expect(fresh.query("SELECT serial FROM issued_cert WHERE cert_id = 'app'").all()).toEqual([{ serial: renewed }]);
    fresh.close();
  });
});
