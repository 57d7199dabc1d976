/**
 * End to end, on the local CA: a daemon left alone. Reloads (SIGHUP and `rota reload`)
 * apply a good config and keep a broken one out (and `[cluster]` for a restart), and stop the folder watch of a target they drop; the socket comes back when deleted; a
 * corrupt database is moved aside and renewals go on; `rota status --check` exits as a
 * monitor expects; a second SIGTERM during the stop is not fatal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, list, localCaConfig, serialOf, waitForFile } from "./helpers.ts";

let dir: string;
let config: string;
let socket: string;
let daemon: Daemon;

const extraCert = (id: string, more = "") => `\n[[cert]]\nid = "${id}"\ndomains = ["${id}.home.arpa"]\nca = "internal"\ninstall = "files"\n${more}`;
const write = (extra = "") => writeFileSync(config, localCaConfig({ extra }));
/** How many times the log says `text`. */
const count = (text: string) => daemon.output().split(text).length - 1;

beforeAll(async () => {
  dir = makeTempDir("rota-lifecycle-");
  config = join(dir, "rota.toml");
  socket = join(dir, "rota.sock");
  write();
  daemon = startDaemon(config);
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

describe("reload", () => {
  test("SIGHUP with a cert added: it is issued at once, and the log says what changed in one line", async () => {
    write(extraCert("api"));
    await daemon.signal("SIGHUP");
    await daemon.waitForOutput("reload: +1 cert");
    await waitForFile(join(dir, "certs", "api", "cert.pem"), 15_000);
    expect((await list(socket)).map((c) => c.id)).toEqual(["app", "api"]);
    expect((await audit(socket, "api"))[0]!.trigger).toBe("reload");
  });

  test("a cert removed is no longer renewed or listed, and its files stay", async () => {
    write();
    const r = await runRota(["reload", "--socket", socket]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("reloaded: -1 cert\n");
    expect((await list(socket)).map((c) => c.id)).toEqual(["app"]);
    // Damage both sets; one tick later the watched one is repaired, the removed one is not.
    const before = serialOf(join(dir, "certs", "api", "cert.pem"));
    rmSync(join(dir, "certs", "api", "privkey.pem"));
    rmSync(join(dir, "certs", "app", "privkey.pem"));
    await waitForFile(join(dir, "certs", "app", "privkey.pem"), 15_000);
    expect(existsSync(join(dir, "certs", "api", "privkey.pem"))).toBe(false);
    expect(serialOf(join(dir, "certs", "api", "cert.pem"))).toBe(before);
    const rotaList = await runRota(["renew", "api", "--socket", socket]);
    expect(rotaList.code).toBe(4);
  });

  test("a target a reload drops leaves no folder watch behind: the daemon's inotify watches go back to what they were", async () => {
    const pid = await daemon.server.childPid();
    // One `inotify wd:` line per watched folder in the daemon's inotify descriptors.
    const watches = () =>
      readdirSync(`/proc/${pid}/fdinfo`).reduce((n, fd) => {
        try {
          return n + (readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8").match(/^inotify wd:/gm)?.length ?? 0);
        } catch {
          return n;
        }
      }, 0);
    const before = watches();
    const more = `\n[[install]]\nname = "more"\ntype = "filesystem"\ndir = "more"\n`;
    write(more + extraCert("extra").replace('install = "files"', 'install = "more"'));
    expect((await runRota(["reload", "--socket", socket])).code).toBe(0);
    await waitForFile(join(dir, "more", "extra", "cert.pem"), 15_000);
    // The new folder and its cert's folder, once a sweep has read it back.
    await waitFor(() => watches() >= before + 2, 15_000, 100, "the new target's folder watched");
    write();
    expect((await runRota(["reload", "--socket", socket])).code).toBe(0);
    await waitFor(() => watches() === before, 10_000, 100, "the dropped target's watch stopped");
    expect(existsSync(join(dir, "more", "extra", "cert.pem"))).toBe(true);
  });

  test("a broken config keeps the daemon on the old one; rota reload lists every problem and exits 2", async () => {
    writeFileSync(config, `${localCaConfig()}\nsurprise = 1\n${extraCert("Bad/Id")}`);
    const r = await runRota(["reload", "--socket", socket]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      [
        `rota: config ${config} is not valid; the daemon keeps running on the previous one:`,
        "  cert[0].surprise: unknown key",
        '  cert[1].id: "Bad/Id" must match [a-z0-9][a-z0-9._-]*',
        '  cert[1].domains[0]: "Bad/Id.home.arpa" is not a valid host name or IP address',
        "",
      ].join("\n"),
    );
    expect(daemon.output()).toContain("still running on the previous one");
    expect(daemon.output()).toContain("reload: cert[0].surprise: unknown key\n");
    expect(daemon.output()).not.toContain("\\n");
    // A file that does not even parse still leads `--config` to the daemon: only daemon.socket is read from it.
    writeFileSync(config, `${localCaConfig()}\n[[cert]]\nid = "oops"\ndomains = [\n`);
    const viaConfig = await runRota(["reload", "--config", config]);
    expect(viaConfig.code).toBe(2);
    expect(viaConfig.stderr).toStartWith(`rota: config ${config} is not valid; the daemon keeps running on the previous one:\n  line `);
    await daemon.signal("SIGHUP");
    await waitFor(() => count("still running on the previous one") >= 2, 10_000, 50, "the SIGHUP's refusal in the log");
    expect(daemon.server.running).toBe(true);
    expect((await list(socket))[0]).toMatchObject({ id: "app", status: "ok" });
  });

  test("a config that fails the start checks is refused like a broken one: rota reload exits 2 naming the problem", async () => {
    writeFileSync(join(dir, "not-a-key"), "hello");
    writeFileSync(config, localCaConfig({ extra: 'key_path = "not-a-key"' }));
    const r = await runRota(["reload", "--socket", socket]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `rota: config ${config} is not valid; the daemon keeps running on the previous one:\n  cert[0].key_path: ${join(dir, "not-a-key")} is not a private key (fix or remove the file; rota will not overwrite it)\n`,
    );
    expect(daemon.output()).toContain("fails the start checks");
    write();
  });

  test("a key that needs a restart is named, and keeps its running value", async () => {
    writeFileSync(config, localCaConfig().replace('socket = "rota.sock"', 'socket = "other.sock"'));
    const r = await runRota(["reload", "--socket", socket, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "reloaded", restart_required: ["daemon.socket"] });
    expect(existsSync(join(dir, "other.sock"))).toBe(false);
    write();
  });

  test("[cluster] is read at start only: a changed key is named; cluster mode over SQLite is refused", async () => {
    write("\n[cluster]\nlock_ttl_seconds = 9\nsync_interval_seconds = 5\n");
    const r = await runRota(["reload", "--socket", socket, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "reloaded", restart_required: ["cluster.lock_ttl_seconds", "cluster.sync_interval_seconds"] });
    write('\n[cluster]\nenabled = true\nnode_id = "nas-1"\n');
    const on = await runRota(["reload", "--socket", socket]);
    expect(on.code).toBe(2);
    expect(on.stderr).toBe(
      `rota: config ${config} is not valid; the daemon keeps running on the previous one:\n  cluster.enabled: needs [audit] backend = "surrealdb": the lease and the issued certificates live in the shared database\n`,
    );
    write();
  });
});

test("the socket, deleted, is back within a tick", async () => {
  rmSync(socket);
  await waitFor(() => existsSync(socket), 5_000, 50, "the socket to come back");
  expect((await list(socket))[0]!.id).toBe("app");
  expect(daemon.output()).toContain(`socket ${socket} was removed; listening on a new one`);
});

describe("rota status --check", () => {
  test("every cert ok: exit 0", async () => {
    const r = await runRota(["status", "--check", "--socket", socket]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("ok: 1 cert(s), none needs attention\n");
    const json = await runRota(["status", "--check", "--json", "--socket", socket]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, certs: 1, problems: [] });
  });

  test("a target that cannot be read: unreadable with the read error, not failed, and exit 1", async () => {
    const certs = join(dir, "certs");
    renameSync(certs, `${certs}.aside`);
    // A file where the folder was: reading <dir>/app fails with ENOTDIR, which is neither absent nor damaged.
    writeFileSync(certs, "");
    try {
      await waitFor(async () => (await list(socket))[0]?.status === "unreadable", 10_000, 50, "app to be unreadable");
      const row = JSON.parse((await runRota(["show", "app", "--json", "--socket", socket])).stdout) as { look_error: string };
      expect(row.look_error).toStartWith(`filesystem files: cannot read ${join(certs, "app")}: `);
      const r = await runRota(["status", "--check", "--socket", socket]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(`app: unreadable: ${row.look_error}\n`);
      const json = await runRota(["status", "--check", "--json", "--socket", socket]);
      expect(json.code).toBe(1);
      expect(json.stderr).toBe("");
      expect(JSON.parse(json.stdout)).toEqual({ ok: false, certs: 1, problems: [`app: unreadable: ${row.look_error}`] });
    } finally {
      rmSync(certs);
      renameSync(`${certs}.aside`, certs);
    }
    await waitFor(async () => (await list(socket))[0]?.status === "ok", 10_000, 50, "app to be ok again");
  });

  test("a cert that was never issued and whose CA is down: exit 1, one line naming it", async () => {
    mkdirSync(join(dir, "www"), { recursive: true });
    const acme = `\n[[ca]]\nname = "down"\ntype = "acme"\ndirectory_url = "https://127.0.0.1:1/dir"\nemail = "ops@example.test"\n\n[[dcv]]\nname = "web"\ntype = "webroot"\npath = "www"\n`;
    writeFileSync(config, `${localCaConfig()}${extraCert("broken").replace('ca = "internal"', 'ca = "down"\ndcv = "web"')}${acme}`);
    expect((await runRota(["reload", "--socket", socket])).code).toBe(0);
    await waitFor(async () => (await list(socket)).find((c) => c.id === "broken")?.status === "cooldown", 15_000, 100, "broken to cool down");
    const r = await runRota(["status", "--check", "--socket", socket]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^broken: cooling down until \d{4}-\d\d-\d\dT[\d:.]+Z: acme down: /);
    // Plain status keeps exit 0.
    expect((await runRota(["status", "--socket", socket])).code).toBe(0);
    write();
    expect((await runRota(["reload", "--socket", socket])).code).toBe(0);
  });
});

test("a corrupt database is moved aside, the daemon starts on a fresh one and renews", async () => {
  await daemon.stop();
  const db = join(dir, "state", "rota.db");
  writeFileSync(db, "this is not a database ".repeat(1000));
  rmSync(`${db}-wal`, { force: true });
  rmSync(`${db}-shm`, { force: true });
  daemon = startDaemon(config);
  await daemon.waitForOutput("listening on");
  const aside = readdirSync(join(dir, "state")).filter((n) => n.startsWith("rota.db.corrupt-"));
  expect(aside).toHaveLength(1);
  expect(aside[0]).toMatch(/^rota\.db\.corrupt-\d{8}T\d{6}Z$/);
  expect(daemon.output()).toContain(`audit store: ${db} is corrupt (file is not a database); moved it to ${join(dir, "state", aside[0]!)}`);
  const r = await runRota(["renew", "app", "--force", "--wait", "--socket", socket]);
  expect(r.code).toBe(0);
  expect((await audit(socket, "app"))[0]!.status).toBe("succeeded");
});

test("a second stop signal during the stop is logged, not fatal", async () => {
  const pid = await daemon.server.childPid();
  // A renewal in flight keeps the stop busy while it is cancelled and its process exits.
  expect((await runRota(["renew", "app", "--force", "--socket", socket])).code).toBe(0);
  // Two different signals: two of one kind sent at once may reach the process as one.
  process.kill(pid, "SIGINT");
  process.kill(pid, "SIGTERM");
  expect(await daemon.server.exited).toBe(0);
  // The kernel may hand them over in either order.
  // A renewal may end between the two lines.
  expect(daemon.output()).toMatch(/SIG(INT|TERM): stopping\n(.*\n)*.*SIG(INT|TERM): already stopping\n/);
  expect(existsSync(socket)).toBe(false);
});
