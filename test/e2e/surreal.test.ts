/**
 * End to end: `dist/rota` on a SurrealDB audit store (the test server: the real engine
 * behind a loopback WebSocket, rocksdb so it survives being killed), against pebble.
 * Issues and installs, answers `rota audit`/`rota list` in exactly SQLite's shapes, keeps a
 * cooldown across a restart, rides out the server being killed under it, and refuses to
 * start on an unreachable server (exit 1) or a wrong password (exit 2).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, ROTA_BIN, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startSurreal, type TestSurreal } from "../harness/surreal.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, challengeFiles, list, waitForFile, waitForRenewal } from "./helpers.ts";

let world: World;
let surreal: TestSurreal;
let passwordFile: string;

beforeAll(async () => {
  world = await startWorld();
  surreal = await startSurreal({ dir: join(world.dir, "surreal"), engine: "rocksdb" });
  passwordFile = join(world.dir, "surreal.pass");
  writeFileSync(passwordFile, `${surreal.password}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await surreal?.stop();
  await world?.stop();
});

function surrealSection(over: Record<string, string | number> = {}): string {
  const keys = { backend: "surrealdb", url: surreal.url, username: surreal.username, password_file: passwordFile, connect_timeout_seconds: 5, ...over };
  return `\n[audit]\n${Object.entries(keys)
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
    .join("\n")}\n`;
}

/** A value's shape: key names and value types, recursively (an array by its first item). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length > 0 ? [shape(v[0])] : [];
  if (v === null) return "null";
  if (typeof v === "object") return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, shape(x)]));
  return typeof v;
}

describe("a daemon on SurrealDB", () => {
  let daemon: Daemon;
  let sqliteShapes: { audit: unknown; list: unknown };
  afterAll(async () => {
    await daemon?.stop();
  });

  test("issues and installs, and rota audit/list give exactly the SQLite shapes", async () => {
    // The same world on SQLite first, in its own state folder, for the shapes to compare with.
    const sqliteState = join(world.dir, "sqlite-state");
    const sqliteSocket = join(world.dir, "sqlite.sock");
    const onSqlite = startDaemon(
      world.writeConfig({ daemon: { state_dir: sqliteState, socket: sqliteSocket }, certs: [{ id: "www", domains: ["www.example.test"] }] }),
      { env: world.env },
    );
    await waitForRenewal(sqliteSocket, "www", (r) => r.status === "succeeded");
    sqliteShapes = { audit: shape(await audit(sqliteSocket, "www")), list: shape(await list(sqliteSocket)) };
    await onSqlite.stop();

    daemon = startDaemon(world.writeConfig({ extra: surrealSection() }), { env: world.env });
    await waitForFile(join(world.certsDir, "www", "cert.pem"));
    const row = await waitForRenewal(world.socket, "www", (r) => r.status === "succeeded");
    expect(row.events.map((e) => e.step)).toContain("install");
    // The same keys and types, but for `node`: null with SQLite, the daemon that ran it on a database daemons may share.
    const rows = await audit(world.socket, "www");
    expect(rows[0]!.node).toMatch(/^[^/\s]+\/[0-9a-f]{8}$/);
    expect(shape(rows.map((r) => ({ ...r, node: null })))).toEqual(sqliteShapes.audit);
    expect(shape(await list(world.socket))).toEqual(sqliteShapes.list);
    const status = await runRota(["status", "--socket", world.socket]);
    expect(status.stdout).toContain("audit: surrealdb, connected");
  });

  test("a reload that changes [audit] says a restart is needed (log line and reply) and keeps the running store", async () => {
    const elsewhere = `ws://127.0.0.1:${await freePort()}/rpc`;
    world.writeConfig({ extra: surrealSection({ url: elsewhere, buffer_max_writes: 500 }) });
    await daemon.signal("SIGHUP");
    const line = "audit.url, audit.buffer_max_writes changed in the file but keep the running value until a restart";
    await daemon.waitForOutput(`reload: no changes; ${line}`);
    const reply = await runRota(["reload", "--json", "--socket", world.socket]);
    expect(reply.code).toBe(0);
    expect(JSON.parse(reply.stdout)).toMatchObject({ status: "reloaded", summary: `no changes; ${line}`, restart_required: ["audit.url", "audit.buffer_max_writes"] });
    expect((await runRota(["status", "--socket", world.socket])).stdout).toContain("audit: surrealdb, connected");
    expect((await audit(world.socket, "www")).length).toBeGreaterThan(0);
    world.writeConfig({ extra: surrealSection() });
  });

  test("a cooldown survives a restart", async () => {
    await daemon?.stop();
    const deadCa = `https://127.0.0.1:${await freePort()}/dir`;
    daemon = startDaemon(world.writeConfig({ directoryUrl: deadCa, extra: surrealSection() }), { env: world.env });
    await daemon.waitForOutput("listening on");
    const r = await runRota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
    expect(r.code).toBe(1);
    const retryAt = (await list(world.socket))[0]!.retry_at;
    expect(retryAt).not.toBeNull();

    await daemon?.stop();
    daemon = startDaemon(world.writeConfig({ directoryUrl: deadCa, extra: surrealSection() }), { env: world.env });
    await daemon.waitForOutput("listening on");
    expect((await list(world.socket))[0]!.retry_at).toBe(retryAt);
    expect((await audit(world.socket, "www")).filter((row) => row.trigger === "startup" && row.status === "failed")).toEqual([]);
  });

  test("the server killed and restarted under the daemon: the API answers, status says DISCONNECTED, the dashboard says why, every row is complete afterwards", async () => {
    await daemon?.stop();
    const port = await freePort();
    const token = "dashboard-token-0123456789";
    const tokenFile = join(world.dir, "api-token");
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const http = `\n[http]\nlisten = "127.0.0.1:${port}"\ntoken_file = ${JSON.stringify(tokenFile)}\n`;
    const page = (path: string) => fetch(`http://127.0.0.1:${port}${path}`, { headers: { Authorization: `Bearer ${token}` } });
    daemon = startDaemon(world.writeConfig({ extra: surrealSection() + http }), { env: world.env });
    await daemon.waitForOutput("listening on");
    let following: ReturnType<typeof runRota> | undefined;
    let followed: string | undefined;
    // A renewal held at validation, so that it runs through the outage.
    await world.nginx.freeze();
    try {
      const started = await runRota(["renew", "www", "--force", "--socket", world.socket]);
      expect(started.code).toBe(0);
      const renewalId = /renewal (\S+) started/.exec(started.stdout)![1]!;
      // Followed from before the outage: the daemon cannot tell its end, and says so; it is not lost.
      following = runRota(["renew", "www", "--wait", "--socket", world.socket], { timeoutMs: 120_000 });
      followed = `rota: cannot follow renewal ${renewalId} to its end: audit: SurrealDB at ${surreal.url} is not connected; the daemon is running, see \`rota audit www\` later\n`;
      await waitFor(() => challengeFiles(world.webroot).length > 0, 30_000, 50, "a published challenge");
      await surreal.kill();
      await daemon.waitForOutput("is not connected", 15_000);

      const status = await runRota(["status", "--socket", world.socket]);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/audit: surrealdb, DISCONNECTED \(\d+ writes buffered\)/);
      const json = JSON.parse((await runRota(["status", "--json", "--socket", world.socket])).stdout) as { audit: unknown };
      expect(json.audit).toMatchObject({ backend: "surrealdb", connected: false, dropped_writes: 0 });
      const auditDown = await runRota(["audit", "--socket", world.socket]);
      expect(auditDown.code).toBe(1);
      expect(auditDown.stderr).toContain(`rota: audit: SurrealDB at ${surreal.url} is not connected`);
      const auditPage = await page("/audit");
      expect(auditPage.status).toBe(503);
      expect(await auditPage.text()).toContain(`audit: SurrealDB at ${surreal.url} is not connected. The page is back once it reconnects.`);
      const statusPage = await page("/status");
      expect(statusPage.status).toBe(200);
      expect(await statusPage.text()).toMatch(/, DISCONNECTED \(\d+ writes buffered\)/);
      expect(daemon.output()).not.toContain("Internal Server Error");
    } finally {
      await world.nginx.thaw();
    }
    // The renewal ends while the server is away: its certificate cannot be stored, so it fails.
    await daemon.waitForOutput("the audit store could not record", 60_000);
    const follower = await following!;
    expect(follower.code).toBe(1);
    expect(follower.stderr).toBe(followed!);
    expect(daemon.output()).not.toMatch(/^\s+at /m);
    await surreal.restart();
    await waitFor(async () => (await runRota(["status", "--socket", world.socket])).stdout.includes("audit: surrealdb, connected"), 30_000, 200, "the store reconnected");
    // The look after the failed renewal could not read the store (unreadable); the store back, every cert is
    // looked at again at once, not at the next hourly sweep.
    await daemon.waitForOutput("audit store connected again: looking at every cert now", 10_000);
    await waitFor(async () => (await list(world.socket))[0]?.status === "ok", 15_000, 200, "www looked at again after the reconnect");
    const [row] = await audit(world.socket, "www");
    expect(row!.trigger).toBe("manual");
    expect(row!.status).toBe("failed");
    expect(row!.finished_at).not.toBeNull();
    // Every step the renewal made is there, in order, with its end: none lost in the buffer.
    expect(row!.events.map((e) => e.step)).toEqual(expect.arrayContaining(["key", "csr", "submit", "publish", "await_issuance", "persist"]));
    expect(row!.events.map((e) => Date.parse(e.at))).toEqual(row!.events.map((e) => Date.parse(e.at)).sort((x, y) => x - y));
    // Its certificate was not stored, so it was not installed either: persist failed with the store's error (issue 16).
    expect(row!.error).toBe(`audit: SurrealDB at ${surreal.url} is not connected`);
    expect(row!.events.filter((e) => e.step === "persist").map((e) => e.status)).toContain("failed");
    expect(row!.events.filter((e) => e.step === "persist").map((e) => e.status)).not.toContain("ok");
    expect(row!.events.some((e) => e.step === "install")).toBe(false);
  });

  test("stopped during an outage: what could not be stored is spooled (0600), and the next start stores it", async () => {
    await daemon?.stop();
    daemon = startDaemon(world.writeConfig({ extra: surrealSection() }), { env: world.env });
    await daemon.waitForOutput("listening on");
    await world.nginx.freeze();
    let renewalId: string;
    try {
      const started = await runRota(["renew", "www", "--force", "--socket", world.socket]);
      renewalId = /renewal (\S+) started/.exec(started.stdout)![1]!;
      await waitFor(() => challengeFiles(world.webroot).length > 0, 30_000, 50, "a published challenge");
      await surreal.kill();
      await daemon.waitForOutput("is not connected", 15_000);
      const stopping = Date.now();
      expect(await daemon.stop()).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(8_000);
    } finally {
      await world.nginx.thaw();
    }
    const spool = join(world.stateDir, "audit-spool.jsonl");
    expect(statSync(spool).mode & 0o777).toBe(0o600);
    expect(readFileSync(spool, "utf8")).toContain(renewalId);

    await surreal.restart();
    daemon = startDaemon(world.writeConfig({ extra: surrealSection() }), { env: world.env });
    await daemon.waitForOutput("listening on");
    expect(existsSync(spool)).toBe(false);
    const row = (await audit(world.socket, "www")).find((r) => r.id === renewalId);
    expect(row).toMatchObject({ status: "interrupted" });
    expect(row!.events.map((e) => e.step)).toEqual(expect.arrayContaining(["key", "csr", "submit", "publish"]));
  });
});

test("a server that accepts and never answers (SIGSTOP) under the daemon: the first call out of time makes it DISCONNECTED, logged, until the server answers", async () => {
  const daemon = startDaemon(world.writeConfig({ extra: surrealSection() }), { env: world.env });
  try {
    await daemon.waitForOutput("listening on");
    await surreal.pause();
    try {
      const started = Date.now();
      const r = await runRota(["list", "--socket", world.socket]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`rota: audit: SurrealDB at ${surreal.url} is not connected\n`);
      expect(Date.now() - started).toBeLessThan(8_000);
      await daemon.waitForOutput(`audit: SurrealDB at ${surreal.url} is not connected (no answer within 5 s); buffering the audit trail`, 5_000);
      expect((await runRota(["status", "--socket", world.socket])).stdout).toMatch(/audit: surrealdb, DISCONNECTED \(\d+ writes buffered\)/);
      const json = JSON.parse((await runRota(["status", "--json", "--socket", world.socket])).stdout) as { audit: unknown };
      expect(json.audit).toMatchObject({ backend: "surrealdb", connected: false, dropped_writes: 0 });
    } finally {
      await surreal.resume();
    }
    await daemon.waitForOutput(`audit: SurrealDB at ${surreal.url} is connected again`, 20_000);
    expect((await runRota(["status", "--socket", world.socket])).stdout).toContain("audit: surrealdb, connected");
    expect((await list(world.socket)).map((c) => c.id)).toEqual(["www"]);
  } finally {
    await daemon.stop();
  }
});

describe("two daemons without [cluster] on one database", () => {
  test("a cert id the other daemon uses is refused at start (exit 2) and on reload, naming that daemon; its cert is never touched; rota audit names each row's daemon", async () => {
    const started = startDaemon(world.writeConfig({ extra: surrealSection() }), { env: world.env });
    await started.waitForOutput("listening on");
    const stateB = join(world.dir, "state-b");
    const socketB = join(world.dir, "b.sock");
    const pathB = join(world.dir, "b.toml");
    // B's CA is dead: were B to act on A's www, it would cool it down.
    const deadCa = `https://127.0.0.1:${await freePort()}/dir`;
    const configB = (certs: { id: string; domains: string[] }[]) => {
      writeFileSync(pathB, readFileSync(world.writeConfig({ daemon: { state_dir: stateB, socket: socketB }, certs, directoryUrl: deadCa, extra: surrealSection() }), "utf8"));
      world.writeConfig({ extra: surrealSection() });
      return pathB;
    };
    let b: Daemon | undefined;
    try {
      const rowsA = await audit(world.socket, "www");
      const ownerA = rowsA[0]!.node!;
      expect(ownerA).toMatch(/^[^/\s]+\/[0-9a-f]{8}$/);
      // A's own runs (this start's and the earlier ones) carry the same node.
      expect(new Set(rowsA.map((r) => r.node))).toEqual(new Set([ownerA]));

      const refused = await runRota(["daemon", "--config", configB([{ id: "www", domains: ["www.other.test"] }])], { env: world.env, timeoutMs: 20_000 });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `cert[0].id: "www" is in use by the rota daemon ${ownerA}, which shares this SurrealDB database; cert ids must be unique across the daemons sharing a database (or make them one [cluster], docs/federation.md)`,
      );
      expect(refused.stderr).not.toContain("    at ");

      // Two daemons on one host are two owners: B's start leaves A's running renewal alone.
      await world.nginx.freeze();
      let held: string;
      try {
        const renew = await runRota(["renew", "www", "--force", "--socket", world.socket]);
        held = /renewal (\S+) started/.exec(renew.stdout)![1]!;
        await waitFor(() => challengeFiles(world.webroot).length > 0, 30_000, 50, "a published challenge");
        b = startDaemon(configB([{ id: "mail", domains: ["mail.example.test"] }]), { env: world.env });
        await b.waitForOutput("listening on");
        expect(b.output()).not.toContain("marked interrupted");
        expect((await audit(world.socket, "www")).find((r) => r.id === held)?.status).toBe("running");
      } finally {
        await world.nginx.thaw();
      }
      await waitForRenewal(world.socket, "www", (r) => r.id === held && r.status === "succeeded");
      configB([
        { id: "mail", domains: ["mail.example.test"] },
        { id: "www", domains: ["www.other.test"] },
      ]);
      await b.signal("SIGHUP");
      await b.waitForOutput(`reload: cert[1].id: "www" is in use by the rota daemon ${ownerA}`);
      expect((await list(socketB)).map((c) => c.id)).toEqual(["mail"]);
      await waitFor(async () => (await list(socketB))[0]?.retry_at != null, 30_000, 200, "mail cooling down on B's dead CA");
      // A's www: not cooled down by B's failures, not reordered for B's names.
      expect(JSON.stringify(await list(world.socket))).not.toContain(new URL(deadCa).host);
      expect((await audit(world.socket, "www")).filter((r) => r.node !== ownerA)).toEqual([]);
      const mailRows = await audit(socketB, "mail");
      expect(mailRows.length).toBeGreaterThan(0);
      for (const r of mailRows) expect(r.node).toMatch(/^[^/\s]+\/[0-9a-f]{8}$/);
      expect(mailRows[0]!.node).not.toBe(ownerA);
    } finally {
      await b?.stop();
      await started.stop();
    }
  });
});

describe("refusing to start", () => {
  test("an unreachable server: exit 1 within connect_timeout_seconds + 2 s", async () => {
    const config = world.writeConfig({ extra: surrealSection({ url: `ws://127.0.0.1:${await freePort()}/rpc`, connect_timeout_seconds: 2 }) });
    const started = Date.now();
    const r = await runRota(["daemon", "--config", config], { env: world.env, timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(4_000 + 1_500);
    expect(r.stderr).toMatch(/^rota: daemon cannot start: audit: SurrealDB at ws:\/\/127\.0\.0\.1:\d+\/rpc not reachable after 2 s: /m);
  });

  test("a wrong password: exit 2 naming audit.username, without the password", async () => {
    const wrong = join(world.dir, "wrong.pass");
    writeFileSync(wrong, "not-the-password-42\n", { mode: 0o600 });
    const config = world.writeConfig({ extra: surrealSection({ password_file: wrong }) });
    const r = await runRota(["daemon", "--config", config], { env: world.env, timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('audit.username: SurrealDB refused "rota" (auth_level database, rota/rota): ');
    expect(r.stderr).not.toContain("not-the-password-42");
    expect(r.stderr).not.toContain(surreal.password);
  });
});

test("the shipped binary holds no embedded engine (surrealdb-node): production talks to a server", () => {
  expect(readFileSync(ROTA_BIN).includes("surrealdb-node")).toBe(false);
});
