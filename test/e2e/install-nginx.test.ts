/**
 * End to end: an `nginx` install target on a real nginx serving TLS from the target's folder.
 * A renewal from pebble is served (read with a TLS handshake) without a restart of nginx, and
 * the deploy hook sees the cert's facts; a failing `test_command`, and a real `nginx -t` on a
 * config broken on purpose, each leave the old files byte for byte, the old serial served, a
 * failed row naming the target and the command's output, and a cooldown.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { freePort, makeLoopbackTls, runRota, startDaemon, startNginx, waitFor, type Daemon, type Nginx } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, list, read, serialOf, waitForFile, type AuditRow } from "./helpers.ts";

let world: World;
let tlsNginx: Nginx;
let tlsPort: number;
let targetDir: string;
let envFile: string;
let daemon: Daemon | undefined;
let masterPid: number;

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

/** Right after a reload an old worker may answer once more with the old certificate: two equal reads settle it. */
async function settledServedSerial(expected: string): Promise<string> {
  return waitFor(async () => ((await servedSerial()) === expected && (await servedSerial()) === expected ? expected : null), 15_000, 50, `nginx to serve serial ${expected}`);
}

/** The nginx command line rota runs against the TLS nginx (its own prefix and config). */
function nginxArgv(...rest: string[]): string {
  return JSON.stringify(["nginx", "-p", tlsNginx.prefix, "-c", tlsNginx.confPath, "-e", tlsNginx.errorLogPath, ...rest]);
}

function writeConfig(testCommand = nginxArgv("-t")): string {
  const path = world.writeConfig({
    extra: `
[[install]]
name = "web"
type = "nginx"
dir = ${JSON.stringify(targetDir)}
test_command = ${testCommand}
reload_command = ${nginxArgv("-s", "reload")}
post_install_command = ["/bin/sh", "-c", "env | grep -E '^ROTA_(CERT_ID|DOMAINS|CERT_DIR|SERIAL)=' | sort > ${envFile}"]
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
async function forcedRenewal(): Promise<{ code: number; stderr: string; row: AuditRow }> {
  const r = await runRota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
  const [row] = await audit(world.socket, "www");
  return { code: r.code, stderr: r.stderr, row: row! };
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
  await restartDaemon(writeConfig());
  await waitForFile(join(certDir(), "cert.pem"));
});

afterAll(async () => {
  await daemon?.stop();
  await tlsNginx?.stop();
  await world?.stop();
});

describe("a renewal on an nginx target", () => {
  test("the first issuance replaced the placeholder and is served, by the same nginx master", async () => {
    const serial = serialOf(join(certDir(), "cert.pem"));
    await settledServedSerial(serial);
    expect(await tlsNginx.masterPid()).toBe(masterPid);
  });

  test("a forced renewal is served at once: new serial over TLS, nginx reloaded not restarted, deploy hook told", async () => {
    const before = serialOf(join(certDir(), "cert.pem"));
    const r = await forcedRenewal();
    expect(r.code).toBe(0);
    expect(r.row.status).toBe("succeeded");
    const after = serialOf(join(certDir(), "cert.pem"));
    expect(after).not.toBe(before);
    await settledServedSerial(after);
    expect(await tlsNginx.masterPid()).toBe(masterPid);
    expect(r.row.events.find((e) => e.step === "install")).toMatchObject({ status: "ok", message: "installed on web" });
    expect(read(envFile)).toBe(`ROTA_CERT_DIR=${certDir()}\nROTA_CERT_ID=www\nROTA_DOMAINS=www.example.test example.test\nROTA_SERIAL=${after}\n`);
  });
});

describe("rollback", () => {
  /** Renews with `config`, expects the install step to fail with `output`, and checks nothing changed. */
  async function expectRolledBack(config: string, command: string, output: string | RegExp): Promise<void> {
    await restartDaemon(config);
    const files = snapshot();
    const serial = serialOf(join(certDir(), "cert.pem"));
    const hookBefore = read(envFile);
    const r = await forcedRenewal();
    expect(r.code).toBe(1);
    expect(r.row.status).toBe("failed");
    const install = r.row.events.find((e) => e.step === "install")!;
    expect(install.status).toBe("failed");
    expect(install.message).toContain(`nginx web: test_command ${command} exited with 1`);
    expect(install.message).toMatch(output);
    expect(install.message).toContain(`the previous files are back in ${certDir()}`);
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
    await expectRolledBack(writeConfig('["false"]'), '["false"]', /exited with 1 \(no output\)|exited with 1: /);
  }, 60_000);

  test("a real nginx -t on a config broken on purpose: the same, with nginx's own words", async () => {
    const conf = read(tlsNginx.confPath);
    writeFileSync(tlsNginx.confPath, conf.replace("events {", "rota_broken_on_purpose on;\nevents {"));
    try {
      await expectRolledBack(writeConfig(), nginxArgv("-t"), /unknown directive "rota_broken_on_purpose"/);
    } finally {
      writeFileSync(tlsNginx.confPath, conf);
    }
  }, 60_000);
});
