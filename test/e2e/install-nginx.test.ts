/**
 * End to end: an `nginx` install target on a real nginx serving TLS from the target's folder.
 * A renewal from pebble is served (read with a TLS handshake) without a restart of nginx, and
 * the deploy hook sees the cert's facts; a failing `test_command`, and a real `nginx -t` on a
 * config broken on purpose, each leave the old files byte for byte, the old serial served, a
 * failed row naming the target and the command's output, and a cooldown. A first install
 * that fails leaves its folder empty and says so (no previous files to speak of).
 * `combined = true` turned on by a reload, and combined.pem removed or changed behind rota's
 * back, are each repaired at a tick, install-only: tested, reloaded, nothing ordered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { freePort, makeLoopbackTls, runRota, startDaemon, startNginx, waitFor, type Daemon, type Nginx } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, list, read, serialOf, waitForFile, waitForRenewal, type AuditRow } from "./helpers.ts";

let world: World;
let tlsNginx: Nginx;
let tlsPort: number;
let targetDir: string;
let envFile: string;
let daemon: Daemon | undefined;
let masterPid: number;
/** nginx's workers before the first issuance reloaded it: they served the placeholder. */
let placeholderWorkers: number[];

/** A row as `rota audit --json` gives it, with the install-only flag this file checks. */
type Row = AuditRow & { install_only: boolean };

const certDir = () => join(targetDir, "www");

/** The serial nginx serves for www.example.test now (lowercase hex). */
function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port: tlsPort, servername: "www.example.test", rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().serialNumber.toLowerCase());
      s.end();
    });
    s.on("error", reject);
  });
}

/**
 * Waits until nginx serves `expected` and none of `workers` (taken before the reload) runs any
 * more: until an old worker has exited it may still answer with the old certificate, whatever
 * the handshakes before said (test/harness/nginx.ts `retired`). Then every handshake gets it.
 */
async function servedAfterReload(expected: string, workers: readonly number[]): Promise<void> {
  await waitFor(async () => ((await servedSerial()) === expected ? expected : null), 15_000, 50, `nginx to serve serial ${expected}`);
  await tlsNginx.retired(workers);
  expect(await servedSerial()).toBe(expected);
}

/** The nginx command line rota runs against the TLS nginx (its own prefix and config). */
function nginxArgv(...rest: string[]): string {
  return JSON.stringify(["nginx", "-p", tlsNginx.prefix, "-c", tlsNginx.confPath, "-e", tlsNginx.errorLogPath, ...rest]);
}

/** `combined`: the target also writes combined.pem; `interval`: check_interval_seconds (default the fixture's hour). */
function writeConfig(testCommand = nginxArgv("-t"), o: { combined?: boolean; interval?: number } = {}): string {
  const path = world.writeConfig({
    ...(o.interval !== undefined && { daemon: { check_interval_seconds: o.interval } }),
    extra: `
[[install]]
name = "web"
type = "nginx"
dir = ${JSON.stringify(targetDir)}
test_command = ${testCommand}
reload_command = ${nginxArgv("-s", "reload")}
post_install_command = ["/bin/sh", "-c", "env | grep -E '^ROTA_(CERT_ID|DOMAINS|CERT_DIR|SERIAL)=' | sort > ${envFile}"]
${o.combined ? "combined = true" : ""}
`,
  });
  writeFileSync(path, read(path).replace('install = "files"', 'install = "web"'));
  return path;
}

async function restartDaemon(config: string): Promise<void> {
  await daemon?.stop();
  daemon = startDaemon(config, { env: world.env });
  await daemon.waitForOutput("listening on");
}

/** Forces a renewal through the CLI and returns its exit and the newest row. */
async function forcedRenewal(): Promise<{ code: number; stderr: string; row: Row }> {
  const r = await runRota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
  const [row] = await audit(world.socket, "www");
  return { code: r.code, stderr: r.stderr, row: row as Row };
}

function snapshot(): Record<string, string> {
  return Object.fromEntries(readdirSync(certDir()).sort().map((f) => [f, read(join(certDir(), f))]));
}

beforeAll(async () => {
  world = await startWorld();
  targetDir = join(world.dir, "nginx-certs");
  envFile = join(world.dir, "deploy-hook.env");
  // What an operator had before rota: a placeholder pair where nginx's config points, so nginx starts.
  mkdirSync(certDir(), { recursive: true, mode: 0o755 });
  const placeholder = makeLoopbackTls(world.dir);
  copyFileSync(placeholder.certPath, join(certDir(), "fullchain.pem"));
  copyFileSync(placeholder.keyPath, join(certDir(), "privkey.pem"));
  tlsPort = await freePort();
  const webroot = join(world.dir, "tls-webroot");
  mkdirSync(webroot, { mode: 0o755 });
  tlsNginx = await startNginx({
    prefix: join(world.dir, "tls-nginx"),
    webroot,
    extraHttpConfig: `  server {
    listen 127.0.0.1:${tlsPort} ssl;
    server_name www.example.test;
    ssl_certificate ${join(certDir(), "fullchain.pem")};
    ssl_certificate_key ${join(certDir(), "privkey.pem")};
    location / { return 200 "ok\\n"; }
  }
`,
  });
  masterPid = await tlsNginx.masterPid();
  placeholderWorkers = await tlsNginx.workerPids();
  await restartDaemon(writeConfig());
  await waitForFile(join(certDir(), "cert.pem"));
  // The files appear before the test, the reload and the deploy hook have run.
  await waitForRenewal(world.socket, "www", (row) => row.status === "succeeded");
});

afterAll(async () => {
  await daemon?.stop();
  await tlsNginx?.stop();
  await world?.stop();
});

describe("a renewal on an nginx target", () => {
  test("the first issuance replaced the placeholder and is served, by the same nginx master", async () => {
    const serial = serialOf(join(certDir(), "cert.pem"));
    await servedAfterReload(serial, placeholderWorkers);
    expect(await tlsNginx.masterPid()).toBe(masterPid);
  });

  test("a forced renewal is served at once: new serial over TLS, nginx reloaded not restarted, deploy hook told", async () => {
    const before = serialOf(join(certDir(), "cert.pem"));
    const workers = await tlsNginx.workerPids();
    const r = await forcedRenewal();
    expect(r.code).toBe(0);
    expect(r.row.status).toBe("succeeded");
    const after = serialOf(join(certDir(), "cert.pem"));
    expect(after).not.toBe(before);
    await servedAfterReload(after, workers);
    expect(await tlsNginx.masterPid()).toBe(masterPid);
    expect(r.row.events.find((e) => e.step === "install")).toMatchObject({ status: "ok", message: "installed on web" });
    expect(read(envFile)).toBe(`ROTA_CERT_DIR=${certDir()}\nROTA_CERT_ID=www\nROTA_DOMAINS=www.example.test example.test\nROTA_SERIAL=${after}\n`);
  });
});

describe("combined = true", () => {
  const combinedPath = () => join(certDir(), "combined.pem");
  const orders = async () => (await audit(world.socket, "www")).filter((r) => !(r as Row).install_only).length;
  /** The other files, byte for byte: a repair of combined.pem writes the set it already holds. */
  const setFiles = () => Object.fromEntries(["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"].map((f) => [f, read(join(certDir(), f))]));

  /** Waits for the install-only run started after `since` and checks what it left: combined.pem as the set makes it, nginx tested and reloaded, nothing ordered. */
  async function expectRepaired(since: string, reason: string, ordersBefore: number, serial: string, workers: readonly number[]): Promise<void> {
    const row = (await waitForRenewal(world.socket, "www", (r) => (r as Row).install_only && r.started_at >= since && r.finished_at !== null, 30_000)) as Row;
    expect(row.status).toBe("succeeded");
    expect(row.reason).toContain(reason);
    expect(row.events.find((e) => e.step === "install")).toMatchObject({ status: "ok", message: "installed on web" });
    expect(read(combinedPath())).toBe(read(join(certDir(), "privkey.pem")) + read(join(certDir(), "fullchain.pem")));
    expect(statSync(combinedPath()).mode & 0o777).toBe(0o600);
    expect(serialOf(join(certDir(), "cert.pem"))).toBe(serial);
    expect(await orders()).toBe(ordersBefore);
    // The old workers exit only on a reload: the repair ran nginx's test and reload like any install.
    await tlsNginx.retired(workers);
    expect(await tlsNginx.masterPid()).toBe(masterPid);
    expect(await servedSerial()).toBe(serial);
  }

  test("turned on by a reload on a working target: the next tick writes combined.pem install-only (key then fullchain, 0600), with no new order", async () => {
    expect(existsSync(combinedPath())).toBe(false);
    const ordersBefore = await orders();
    const serial = serialOf(join(certDir(), "cert.pem"));
    const files = setFiles();
    const workers = await tlsNginx.workerPids();
    const since = new Date().toISOString();
    writeConfig(undefined, { combined: true, interval: 1 });
    expect((await runRota(["reload", "--socket", world.socket])).code).toBe(0);
    await expectRepaired(since, "combined.pem is missing", ordersBefore, serial, workers);
    expect(setFiles()).toEqual(files);
  }, 60_000);

  test("removed or changed behind rota's back: a later tick puts it back, install-only", async () => {
    for (const damage of [() => rmSync(combinedPath()), () => writeFileSync(combinedPath(), read(join(certDir(), "fullchain.pem")))]) {
      const ordersBefore = await orders();
      const serial = serialOf(join(certDir(), "cert.pem"));
      const files = setFiles();
      const workers = await tlsNginx.workerPids();
      const since = new Date().toISOString();
      damage();
      await expectRepaired(since, "combined.pem is", ordersBefore, serial, workers);
      expect(setFiles()).toEqual(files);
    }
  }, 60_000);
});

describe("rollback", () => {
  /** The parts of an install step's message that say the swap was undone. */
  function expectUndone(message: string, command: string, output: string | RegExp): void {
    expect(message).toContain(`nginx web: test_command ${command} exited with 1`);
    expect(message).toMatch(output);
    expect(message).toContain(`the previous files are back in ${certDir()}`);
  }

  /**
   * Restarts on `config`, forces a renewal, and expects its install step to fail with `output`
   * and nothing to have changed. `staleFirst`: the store holds a newer certificate than the one
   * served (the previous test's rolled-back renewal), so the startup tick re-installs it first,
   * install-only, and that attempt is undone the same way.
   */
  async function expectRolledBack(config: string, command: string, output: string | RegExp, staleFirst: boolean): Promise<void> {
    const files = snapshot();
    const serial = serialOf(join(certDir(), "cert.pem"));
    const hookBefore = read(envFile);
    const restarted = new Date().toISOString();
    await restartDaemon(config);
    if (staleFirst) {
      const reinstall = await waitForRenewal(world.socket, "www", (row) => (row as Row).install_only && row.started_at >= restarted);
      expect(reinstall).toMatchObject({ status: "failed", trigger: "startup" });
      expectUndone(reinstall.events.find((e) => e.step === "install")!.message, command, output);
      expect(snapshot()).toEqual(files);
    }
    const r = await forcedRenewal();
    expect(r.code).toBe(1);
    expect(r.row).toMatchObject({ status: "failed", install_only: false });
    const install = r.row.events.find((e) => e.step === "install")!;
    expect(install.status).toBe("failed");
    expectUndone(install.message, command, output);
    expect(r.row.error).toContain("nginx web: test_command");
    expect(snapshot()).toEqual(files);
    expect(await servedSerial()).toBe(serial);
    expect(await servedSerial()).toBe(serial);
    expect(await tlsNginx.masterPid()).toBe(masterPid);
    expect(read(envFile)).toBe(hookBefore);
    const [cert] = await list(world.socket);
    expect(cert!.last_renewal).toMatchObject({ status: "failed" });
    expect(cert!.retry_at).not.toBeNull();
    expect(Date.parse(cert!.retry_at!)).toBeGreaterThan(Date.parse(r.row.finished_at!));
  }

  test('test_command = ["false"]: old files byte for byte, old serial served, failed row, cooldown', async () => {
    await expectRolledBack(writeConfig('["false"]'), '["false"]', /exited with 1 \(no output\)/, false);
  }, 60_000);

  test("a real nginx -t on a config broken on purpose: the same, with nginx's own words, also for the re-install of the stored certificate", async () => {
    const conf = read(tlsNginx.confPath);
    writeFileSync(tlsNginx.confPath, conf.replace("events {", "rota_broken_on_purpose on;\nevents {"));
    try {
      await expectRolledBack(writeConfig(), nginxArgv("-t"), /unknown directive "rota_broken_on_purpose"/, true);
    } finally {
      writeFileSync(tlsNginx.confPath, conf);
    }
  }, 60_000);

  test("a first install whose test fails: the folder is left empty, and the message says so instead of previous files being back", async () => {
    const fresh = join(world.dir, "fresh-certs");
    const config = writeConfig();
    appendFileSync(
      config,
      `
[[install]]
name = "fresh"
type = "nginx"
dir = ${JSON.stringify(fresh)}
test_command = ["false"]
reload_command = ["true"]

[[cert]]
id = "new"
domains = ["new.example.test"]
ca = "pebble"
dcv = "web"
install = "fresh"
`,
    );
    await restartDaemon(config);
    const row = await waitForRenewal(world.socket, "new", (r) => r.status === "failed");
    const install = row.events.find((e) => e.step === "install")!;
    expect(install.status).toBe("failed");
    expect(install.message).toContain(`nginx fresh: test_command ["false"] exited with 1 (no output); ${join(fresh, "new")} is left as it was, without the new files (there were none before)`);
    expect(install.message).not.toContain("previous files are back");
    expect(readdirSync(join(fresh, "new"))).toEqual([]);
  }, 60_000);
});

describe("config", () => {
  test("an empty argv and a program that is neither absolute nor on PATH: exit 2, each key path named", async () => {
    const config = world.writeConfig({
      extra: `
[[install]]
name = "web"
type = "nginx"
dir = ${JSON.stringify(targetDir)}
test_command = []
reload_command = ["nginx-that-is-not-installed", "-s", "reload"]
post_install_command = ["relative/script.sh"]
`,
    });
    for (const cmd of [["check-config", "--config", config], ["daemon", "--config", config]]) {
      const r = await runRota(cmd, { env: world.env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("install[1].test_command: must list the command and its arguments, not be empty");
      expect(r.stderr).toContain('install[1].reload_command: "nginx-that-is-not-installed" is not found on PATH');
      expect(r.stderr).toContain('install[1].post_install_command: "relative/script.sh" must be an absolute path or a command name found on PATH');
    }
  });
});
