/**
 * End to end: dist/rota on real pebble installs into a real HAProxy 2.6 through its
 * runtime API. Two certs issued at once land on one socket from two renewal processes and
 * are both served; four certs renewed at once, round after round, through a target with two
 * sockets into the one HAProxy (a unix path and a TCP port: one transaction behind both)
 * each serve their own certificate; a renewal is served at once with HAProxy's PID unchanged; a HAProxy
 * restarted from an older file, or serving another certificate than the file, is put right
 * at the next tick without a new order (install_only). A path HAProxy does not load and a
 * socket nobody listens on each fail the renewal saying so, and so does a reload_command
 * after which HAProxy still does not load the path (not a success and a reload at every
 * tick). A socket path that is a plain file, a mistyped host:port and a relative path are
 * config errors. (A commit HAProxy refuses needs a key that does not match, which the
 * pipeline never hands over: that fault is proven in haproxy.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { makeTempDir, removeTempDir, runRota, startDaemon, startHaproxy, waitFor, type Daemon, type Haproxy } from "../harness/index.ts";
import { makeInstallFixtures } from "../../src/backends/install/contract.ts";
import { RELOAD_LOAD_WAIT_MS } from "../../src/backends/install/haproxy/after-reload.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, read, type AuditRow } from "./helpers.ts";

type Row = AuditRow & { install_only: boolean; reason: string | null };

let world: World;
let haproxy: Haproxy;
let daemon: Daemon;
let certs: string;
let placeholderSerial: string;
/** The [[install]] and [[cert]] sections the daemon starts with; a test appends its own and reloads. */
let baseExtra: string;
const DAEMON = { check_interval_seconds: 1, failure_cooldown_seconds: 1 };

/** Certs on the target with two sockets into one HAProxy, renewed all at once. */
const BOTH = ["a", "b", "c", "d"];
const bundle = (id: string) => join(certs, `${id}.pem`);
const fileSerial = (id: string) => new X509Certificate(read(bundle(id))).serialNumber.toLowerCase();
const rows = async (id: string) => (await audit(world.socket, id).catch(() => [])) as Row[];

/** Waits until HAProxy serves `serial` for `name` to a TLS handshake. */
async function waitServed(name: string, serial: string): Promise<string> {
  return waitFor(async () => ((await haproxy.servedSerial(name)) === serial ? serial : null), 30_000, 100, `${name} served with serial ${serial}`);
}

beforeAll(async () => {
  world = await startWorld();
  certs = join(world.dir, "haproxy-certs");
  mkdirSync(certs);
  // HAProxy refuses to start on a crt that does not exist: each path starts with a certificate rota did not issue.
  const fx = await makeInstallFixtures(makeTempDir("rota-e2e-haproxy-ca-"), "placeholder");
  for (const id of ["www", "api", ...BOTH]) writeFileSync(bundle(id), fx.first.leafPem + fx.first.chainPem + fx.first.privateKeyPem, { mode: 0o600 });
  placeholderSerial = fileSerial("www");
  haproxy = await startHaproxy({ dir: join(world.dir, "haproxy"), crts: ["www", "api", ...BOTH].map(bundle), tcpSocket: true });
  // "unloaded": a path HAProxy's config does not name; "gone" goes through a socket nobody listens on.
  const extra = `
[[install]]
name = "lb"
type = "haproxy"
dir = ${JSON.stringify(certs)}
sockets = [${JSON.stringify(haproxy.socket)}]

[[install]]
name = "lb-gone"
type = "haproxy"
dir = ${JSON.stringify(certs)}
sockets = [${JSON.stringify(join(world.dir, "gone.sock"))}]

[[install]]
name = "lb-both"
type = "haproxy"
dir = ${JSON.stringify(certs)}
sockets = [${JSON.stringify(haproxy.socket)}, "127.0.0.1:${haproxy.socketPort}"]
${[["www", "lb"], ["api", "lb"], ["unloaded", "lb"], ["gone", "lb-gone"], ...BOTH.map((id) => [id, "lb-both"])]
  .map(([id, lb]) => `\n[[cert]]\nid = "${id}"\ndomains = ["${id}.example.test"]\nca = "pebble"\ndcv = "web"\ninstall = "${lb}"\n`)
  .join("")}`;
  baseExtra = extra;
  const config = world.writeConfig({ certs: [], daemon: DAEMON, extra });
  daemon = startDaemon(config, { env: world.env });
});

afterAll(async () => {
  await daemon?.stop();
  await haproxy?.stop();
  await world?.stop();
});

describe("haproxy target on real pebble", () => {
  test("two certs issued at once on one socket: both swapped in and served, HAProxy not restarted", async () => {
    const pid = await haproxy.pid();
    for (const id of ["www", "api"]) {
      await waitFor(async () => (await rows(id)).find((r) => r.status === "succeeded"), 30_000, 100, `${id} succeeded`);
      expect(fileSerial(id)).not.toBe(placeholderSerial);
      expect(await haproxy.servedSerial(`${id}.example.test`)).toBe(fileSerial(id));
    }
    expect(await haproxy.pid()).toBe(pid);
    // None left open: the lb-both certs issue at the same start, so one of theirs may be under way at this moment.
    const open = async () => (await haproxy.send("show ssl cert")).split("\n").filter((l) => l.startsWith("*"));
    await waitFor(async () => (await open()).length === 0 || null, 30_000, 100, "no open transaction on HAProxy");
  });

  test("a renewal is served at once, the PID unchanged", async () => {
    const pid = await haproxy.pid();
    const before = fileSerial("www");
    const r = await runRota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
    expect(r.code).toBe(0);
    const after = fileSerial("www");
    expect(after).not.toBe(before);
    expect(await haproxy.servedSerial("www.example.test")).toBe(after);
    expect(await haproxy.pid()).toBe(pid);
    const row = (await rows("www")).find((x) => x.trigger === "manual")!;
    expect(row.events.find((e) => e.step === "install")!.status).toBe("ok");
  });

  test("HAProxy restarted from an older file: re-installed at the next tick without a new order", async () => {
    const newest = fileSerial("www");
    const orders = (await rows("www")).filter((r) => !r.install_only).length;
    // A backup of the current file, made stale by the next renewal.
    const older = join(world.dir, "older.pem");
    copyFileSync(bundle("www"), older);
    await runRota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
    const latest = fileSerial("www");
    expect(latest).not.toBe(newest);
    const since = Date.now();
    await daemon.signal("SIGSTOP");
    copyFileSync(older, bundle("www"));
    await haproxy.restart();
    expect(await haproxy.servedSerial("www.example.test")).toBe(newest);
    await daemon.signal("SIGCONT");
    const row = await waitFor(
      async () => (await rows("www")).find((r) => r.finished_at !== null && Date.parse(r.started_at) >= since),
      30_000,
      100,
      "a run of www after the restart",
    );
    expect(row).toMatchObject({ status: "succeeded", install_only: true, reason: `lb does not serve the newest certificate (serial ${latest})` });
    expect(await waitServed("www.example.test", latest)).toBe(latest);
    expect(fileSerial("www")).toBe(latest);
    expect((await rows("www")).filter((r) => !r.install_only).length).toBe(orders + 1);
  });

  test("a process serving another certificate than the file: re-installed, the reason names both serials", async () => {
    const latest = fileSerial("www");
    const other = read(bundle("api"))
      .split("\n")
      .filter((l) => l.trim() !== "")
      .join("\n");
    const since = Date.now();
    await daemon.signal("SIGSTOP");
    expect(await haproxy.send(`set ssl cert ${bundle("www")} <<\n${other}\n`)).toContain("Transaction created");
    expect(await haproxy.send(`commit ssl cert ${bundle("www")}`)).toContain("Success!");
    await daemon.signal("SIGCONT");
    const row = await waitFor(
      async () => (await rows("www")).find((r) => r.finished_at !== null && Date.parse(r.started_at) >= since),
      30_000,
      100,
      "a run of www after the swap behind rota's back",
    );
    expect(row).toMatchObject({
      status: "succeeded",
      install_only: true,
      reason: `lb: damaged: ${haproxy.socket} serves serial ${fileSerial("api")}, www.pem holds ${latest}`,
    });
    expect(await waitServed("www.example.test", latest)).toBe(latest);
  });
});

describe("two sockets into one HAProxy: one transaction behind both", () => {
  test("four certs renewed at once, ten rounds, through a target with a unix and a TCP socket: every renewal succeeds, each name serves its own certificate", async () => {
    for (const id of BOTH) await waitFor(async () => (await rows(id)).find((r) => r.status === "succeeded"), 30_000, 100, `${id} succeeded`);
    const pid = await haproxy.pid();
    for (let round = 0; round < 10; round++) {
      const renewals = await Promise.all(BOTH.map((id) => runRota(["renew", id, "--force", "--wait", "--socket", world.socket])));
      expect(renewals.map((r) => (r.code === 0 ? "ok" : r.stderr.trim()))).toEqual(BOTH.map(() => "ok"));
      for (const id of BOTH) {
        expect(await haproxy.servedSerial(`${id}.example.test`)).toBe(fileSerial(id));
        // What the tester read: HAProxy's own view of the path (leading zeros may differ from Node's).
        const shown = /^Serial: (\w+)$/m.exec(await haproxy.send(`show ssl cert ${bundle(id)}`))?.[1];
        expect(shown?.toLowerCase().replace(/^0+/, "")).toBe(fileSerial(id).replace(/^0+/, ""));
      }
    }
    expect(await haproxy.pid()).toBe(pid);
    // None left open: the lb-both certs issue at the same start, so one of theirs may be under way at this moment.
    const open = async () => (await haproxy.send("show ssl cert")).split("\n").filter((l) => l.startsWith("*"));
    await waitFor(async () => (await open()).length === 0 || null, 30_000, 100, "no open transaction on HAProxy");
  });
});

describe("faults through the pipeline: the renewal fails saying why, no transaction left open", () => {
  const failed = (id: string) => waitFor(async () => (await rows(id)).find((r) => r.status === "failed"), 30_000, 100, `a failed run of ${id}`);

  test("a path HAProxy does not load: the bundle is written, the error says what to add", async () => {
    const row = await failed("unloaded");
    const path = bundle("unloaded");
    expect(row.error).toContain(`haproxy lb: ${path} holds serial ${fileSerial("unloaded")}, but ${haproxy.socket} does not reference ${path}: add "crt ${path}" to a bind line`);
    expect(row.events.find((e) => e.step === "install")!.status).toBe("failed");
    expect((await haproxy.send("show ssl cert")).split("\n").filter((l) => l.startsWith("*"))).toEqual([]);
  });

  test("a socket nobody listens on: the error names it, says it could not connect and that nothing changed through it", async () => {
    const row = await failed("gone");
    const gone = join(world.dir, "gone.sock");
    expect(row.error).toContain(`haproxy lb-gone: ${bundle("gone")} holds serial ${fileSerial("gone")}, but ${gone}: cannot connect: connect ENOENT ${gone}; nothing was changed through that socket`);
    expect(row.error).not.toContain("transaction");
    expect(row.error).not.toContain("still serves");
  });
});

describe("reload_command after which HAProxy still does not load the path", () => {
  test("the run fails saying what to add, the repair that fails again waits out a cooldown, and HAProxy is not reloaded at every tick", async () => {
    // Last in the file: no other test restarts HAProxy while this one's reload is checked.
    const reloadLog = join(world.dir, "reload.log");
    const script = join(world.dir, "reload.sh");
    writeFileSync(script, `#!/bin/sh\ndate +%s%3N >> ${reloadLog}\necho reloaded-ok\n`, { mode: 0o755 });
    const extra = `${baseExtra}
[[install]]
name = "lb-reload"
type = "haproxy"
dir = ${JSON.stringify(certs)}
sockets = [${JSON.stringify(haproxy.socket)}]
reload_command = [${JSON.stringify(script)}]

[[cert]]
id = "reloaded"
domains = ["reloaded.example.test"]
ca = "pebble"
dcv = "web"
install = "lb-reload"
`;
    // Its signal handlers are in place once it answers on its socket (a SIGHUP before that would end it).
    await waitFor(() => audit(world.socket).then(() => true, () => null), 30_000, 100, "the daemon's socket");
    world.writeConfig({ certs: [], daemon: DAEMON, extra });
    await daemon.signal("SIGHUP");
    const [first, second, third] = await waitFor(
      async () => {
        const failed = (await rows("reloaded")).filter((r) => r.status === "failed").sort((a, b) => a.started_at.localeCompare(b.started_at));
        return failed.length >= 3 ? failed : null;
      },
      100_000,
      200,
      "three failed runs of reloaded",
    );
    const reloads = read(reloadLog).trim().split("\n").map(Number);
    const runs = await rows("reloaded");
    const path = bundle("reloaded");
    const info = await haproxy.send("show info");
    const process = `${/^node: (.*)$/m.exec(info)![1]!.trim()}/${/^Pid: (\d+)$/m.exec(info)![1]}`;
    const expected =
      `haproxy lb-reload: ${path} holds serial ${fileSerial("reloaded")}, but ${haproxy.socket}: reload_command ran, but after ${RELOAD_LOAD_WAIT_MS / 1000} s ` +
      `HAProxy still does not load ${path} (process ${process}, from before the reload, still answers: does reload_command reload this HAProxy?): ` +
      `add "crt ${path}" to a bind line (or a crt-list) of that HAProxy's config`;
    for (const run of [first!, second!, third!]) {
      expect(run.error).toContain(expected);
      expect(run.events.find((e) => e.step === "install")).toMatchObject({ status: "failed" });
    }
    // The first run ordered the certificate; the next puts it back at once (a repair is not held by the order's
    // cooldown); that same repair failing again waits out the cooldown.
    expect(first!.install_only).toBe(false);
    expect(second).toMatchObject({ install_only: true, reason: `lb-reload: damaged: ${haproxy.socket} does not load ${path}` });
    expect(third).toMatchObject({ install_only: true, reason: second!.reason });
    expect(Date.parse(third!.started_at)).toBeGreaterThanOrEqual(Date.parse(second!.finished_at!) + DAEMON.failure_cooldown_seconds * 1000);
    // One reload per run at most, each followed by the whole wait: not one at every 1-s tick.
    expect(reloads.length).toBeLessThanOrEqual(runs.length);
    expect(reloads.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < reloads.length; i++) expect(reloads[i]! - reloads[i - 1]!).toBeGreaterThanOrEqual(RELOAD_LOAD_WAIT_MS);
    expect(runs.filter((r) => r.status === "succeeded")).toEqual([]);
    expect((await haproxy.send("show ssl cert")).split("\n").filter((l) => l.startsWith("*"))).toEqual([]);
  }, 150_000);
});

test("a socket path that exists and is not a socket, a mistyped host:port, a relative path: exit 2 naming each key, nothing more", async () => {
  const dir = makeTempDir("rota-e2e-haproxy-cfg-");
  try {
    writeFileSync(join(dir, "not-a-socket"), "");
    mkdirSync(join(dir, "certs"));
    const config = (sockets: string[]) => {
      writeFileSync(
        join(dir, "rota.toml"),
        `[daemon]\nstate_dir = "state"\n\n[[ca]]\nname = "internal"\ntype = "local"\n\n[[install]]\nname = "lb"\ntype = "haproxy"\ndir = "certs"\nsockets = ${JSON.stringify(sockets)}\n\n[[cert]]\nid = "a"\ndomains = ["a.example"]\nca = "internal"\ninstall = "lb"\n`,
      );
      return runRota(["check-config", "--config", join(dir, "rota.toml")]);
    };
    const plain = await config([join(dir, "not-a-socket")]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`install[0].sockets[0]: ${join(dir, "not-a-socket")} exists and is not a socket`);
    const typos = await config(["127.0.0.1:notaport", "admin.sock"]);
    expect(typos.code).toBe(2);
    expect(typos.stderr).toContain('install[0].sockets[0]: "127.0.0.1:notaport" is not host:port (the port a number from 1 to 65535), nor an absolute socket path');
    expect(typos.stderr).toContain(`install[0].sockets[1]: "admin.sock" is a relative path: give the socket's absolute path, as HAProxy's "stats socket" line names it, or host:port`);
    for (const r of [plain, typos]) {
      expect(r.stderr).not.toContain("is empty");
      expect(r.stderr).not.toContain("    at ");
    }
  } finally {
    removeTempDir(dir);
  }
});
