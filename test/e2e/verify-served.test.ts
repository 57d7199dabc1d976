/**
 * End to end on pebble: `verify_served` and several targets per cert. An nginx serving the
 * target's files over TLS but never reloaded is caught (the install step fails saying the old
 * serial is still served, and each tick's install-only run says the same) until it is reloaded;
 * a cert on two targets, one of them unwritable, installs on the other, and once the first is
 * fixed the next tick installs only there, without a new order. `rota list --json` shows what
 * each target serves throughout.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, runRota, startDaemon, startNginx, waitFor, type Daemon, type Nginx } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, serialOf, type AuditRow } from "./helpers.ts";

type Row = AuditRow & { install_only: boolean; reason: string | null };
interface Target {
  name: string;
  type: string | null;
  serial: string | null;
  not_after: string | null;
  matches_latest: boolean;
  error: string | null;
}
interface Item {
  id: string;
  status: string;
  targets: Target[];
}

let world: World;
let tlsNginx: Nginx;
let daemon: Daemon;
let tlsPort: number;
let servedDir: string;
let aDir: string;
let bDir: string;
let placeholderSerial: string;

async function items(): Promise<Item[]> {
  const r = await runRota(["list", "--json", "--socket", world.socket]);
  if (r.code !== 0) throw new Error(`rota list exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Item[];
}

async function item(id: string): Promise<Item> {
  return (await items()).find((i) => i.id === id)!;
}

async function rows(certId: string): Promise<Row[]> {
  return (await audit(world.socket, certId).catch(() => [])) as Row[];
}

function config(): string {
  const q = JSON.stringify;
  const cert = (id: string, install: string[]) =>
    `[[cert]]\nid = ${q(id)}\ndomains = [${q(`${id}.example.test`)}]\nca = "pebble"\ndcv = "web"\ninstall = ${q(install)}\nkey_path = ${q(join(world.stateDir, "keys", `${id}.key`))}\n`;
  return [
    "[daemon]",
    `state_dir = ${q(world.stateDir)}`,
    `socket = ${q(world.socket)}`,
    "check_interval_seconds = 1",
    "failure_cooldown_seconds = 1",
    "failure_cooldown_max_seconds = 2",
    "",
    `[[ca]]\nname = "pebble"\ntype = "acme"\ndirectory_url = ${q(world.pebble.directoryUrl)}\nemail = "ops@example.test"\nca_bundle = ${q(world.pebble.caBundlePath)}\n`,
    `[[dcv]]\nname = "web"\ntype = "webroot"\npath = ${q(world.webroot)}\n`,
    `[[install]]\nname = "served"\ntype = "filesystem"\ndir = ${q(servedDir)}\nverify_served = [${q(`127.0.0.1:${tlsPort}`)}]\nverify_served_timeout_seconds = 2\n`,
    `[[install]]\nname = "a"\ntype = "filesystem"\ndir = ${q(aDir)}\n`,
    `[[install]]\nname = "b"\ntype = "filesystem"\ndir = ${q(bDir)}\n`,
    cert("www", ["served"]),
    cert("multi", ["a", "b"]),
  ].join("\n");
}

beforeAll(async () => {
  world = await startWorld();
  servedDir = join(world.dir, "served");
  aDir = join(world.dir, "a");
  bDir = join(world.dir, "b");
  for (const d of [servedDir, join(servedDir, "www"), aDir, bDir]) mkdirSync(d, { mode: 0o755 });
  // What nginx serves until it is reloaded: a one-day self-signed certificate, older than any pebble issues.
  const placeholder = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=www.example.test", "-addext", "subjectAltName=DNS:www.example.test",
      "-keyout", join(servedDir, "www", "privkey.pem"), "-out", join(servedDir, "www", "fullchain.pem")],
    { stdout: "pipe", stderr: "pipe" },
  );
  expect(placeholder.exitCode).toBe(0);
  placeholderSerial = serialOf(join(servedDir, "www", "fullchain.pem"));
  tlsPort = await freePort();
  tlsNginx = await startNginx({
    prefix: join(world.dir, "tls-nginx"),
    webroot: join(world.dir, "tls-webroot"),
    extraHttpConfig: `  server {\n    listen 127.0.0.1:${tlsPort} ssl;\n    server_name www.example.test;\n    ssl_certificate ${join(servedDir, "www", "fullchain.pem")};\n    ssl_certificate_key ${join(servedDir, "www", "privkey.pem")};\n    location / { return 204; }\n  }\n`,
  });
  // b cannot be written to until the test says so: root ignores modes, not the immutable bit.
  expect(Bun.spawnSync(["chattr", "+i", bDir]).exitCode).toBe(0);
  const path = join(world.dir, "rota.toml");
  writeFileSync(path, config());
  daemon = startDaemon(path, { env: world.env });
});

afterAll(async () => {
  Bun.spawnSync(["chattr", "-i", bDir]);
  await daemon?.stop();
  await tlsNginx?.stop();
  await world?.stop();
});

describe("verify_served: an nginx never reloaded", () => {
  let newest: string;

  test("the install step fails saying the old serial is still served", async () => {
    const failed = await waitFor(async () => (await rows("www")).find((r) => r.status === "failed" && !r.install_only), 60_000, 100, "the first renewal of www to fail");
    newest = serialOf(join(servedDir, "www", "cert.pem"));
    const install = failed.events.find((e) => e.step === "install")!;
    expect(install.status).toBe("failed");
    expect(failed.error).toContain(`filesystem served: 127.0.0.1:${tlsPort} still serves serial ${placeholderSerial} (valid until `);
    expect(failed.error).toContain(`) after reload, not ${newest}`);
    expect(failed.events.map((e) => e.step)).toContain("persist");
  });

  test("each tick finds the endpoint behind the files and re-installs (install-only), failing the same way, until nginx is reloaded", async () => {
    const reason = `served (127.0.0.1:${tlsPort} serves ${placeholderSerial}) does not serve the newest certificate (serial ${newest})`;
    const retried = await waitFor(async () => (await rows("www")).find((r) => r.install_only && r.finished_at !== null), 30_000, 100, "an install-only run of www");
    expect(retried).toMatchObject({ status: "failed", trigger: "scheduled", reason });
    expect(retried.error).toContain(`still serves serial ${placeholderSerial}`);
    const listed = await waitFor(async () => {
      const i = await item("www");
      return ["failed", "cooldown"].includes(i.status) ? i : undefined;
    }, 15_000, 100, "www failed or cooling down");
    expect(listed.targets).toEqual([{ name: "served", type: "filesystem", serial: placeholderSerial, not_after: expect.any(String), matches_latest: false, error: null }]);
    // No new order for it: the newest stored certificate is still the one the first renewal issued.
    expect((await rows("www")).filter((r) => !r.install_only)).toHaveLength(1);

    await tlsNginx.reload();
    const ok = await waitFor(async () => {
      const i = await item("www");
      return i.status === "ok" ? i : undefined;
    }, 30_000, 100, "www ok once nginx serves the new certificate");
    expect(ok.targets).toEqual([{ name: "served", type: "filesystem", serial: newest, not_after: expect.any(String), matches_latest: true, error: null }]);
  });
});

describe("two targets, one failing", () => {
  test("the renewal installs on a, fails naming b and why, and rota list shows each", async () => {
    const failed = await waitFor(async () => (await rows("multi")).find((r) => r.status === "failed" && !r.install_only), 60_000, 100, "the first renewal of multi to fail");
    expect(failed.error).toStartWith(`filesystem b: cannot write ${join(bDir, "multi")}: `);
    const serial = serialOf(join(aDir, "multi", "cert.pem"));
    // The look after the renewal lands a moment after its row: wait for it rather than read once.
    const listed = await waitFor(async () => {
      const i = await item("multi");
      return i.targets[0]!.serial !== null ? i : undefined;
    }, 15_000, 100, "multi's look after its renewal");
    expect(listed.targets).toEqual([
      { name: "a", type: "filesystem", serial, not_after: expect.any(String), matches_latest: true, error: null },
      { name: "b", type: "filesystem", serial: null, not_after: null, matches_latest: false, error: null },
    ]);
  });

  test("once b is fixed, the next tick installs only there, without a new order", async () => {
    const serial = serialOf(join(aDir, "multi", "cert.pem"));
    const aIno = statSync(join(aDir, "multi", "cert.pem")).ino;
    expect(Bun.spawnSync(["chattr", "-i", bDir]).exitCode).toBe(0);
    const repaired = await waitFor(async () => (await rows("multi")).find((r) => r.install_only && r.status === "succeeded"), 30_000, 100, "an install-only run of multi to succeed");
    expect(repaired.reason).toBe(`b does not serve the newest certificate (serial ${serial})`);
    expect(repaired.events.map((e) => [e.step, e.status])).toEqual([
      ["key", "ok"],
      ["verify", "ok"],
      ["install", "ok"],
    ]);
    expect(repaired.events.find((e) => e.step === "install")!.message).toBe("installed on b");
    // Any install-only run before it failed on b alone, for the same reason.
    for (const r of (await rows("multi")).filter((x) => x.install_only && x.status === "failed")) expect(r.reason).toBe(repaired.reason);
    expect((await rows("multi")).filter((r) => !r.install_only)).toHaveLength(1);
    expect(serialOf(join(bDir, "multi", "cert.pem"))).toBe(serial);
    expect(statSync(join(aDir, "multi", "cert.pem")).ino).toBe(aIno);
    const ok = await waitFor(async () => {
      const i = await item("multi");
      return i.status === "ok" ? i : undefined;
    }, 15_000, 100, "multi ok");
    expect(ok.targets.map((t) => [t.name, t.serial, t.matches_latest])).toEqual([
      ["a", serial, true],
      ["b", serial, true],
    ]);
  });
});

test("rota check-config: a verify_served entry that is not host:port exits 2 naming the key path", async () => {
  const path = join(world.dir, "bad.toml");
  writeFileSync(path, config().replace(`verify_served = ["127.0.0.1:${tlsPort}"]`, `verify_served = ["127.0.0.1:${tlsPort}", "localhost"]`));
  const r = await runRota(["check-config", "--config", path]);
  expect(r.code).toBe(2);
  expect(r.stderr + r.stdout).toContain('install[0].verify_served[1]: "localhost" must be host:port (IPv6 as [::1]:443)');
});
