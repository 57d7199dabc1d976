/**
 * End to end: the `rota` CLI as a user drives it — exit codes, config errors without
 * stack traces, socket discovery — on the local CA, plus install targets converging on
 * the newest stored certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, list, read, serialOf, waitForFile, waitForRenewal } from "./helpers.ts";

let dir: string;
let socket: string;
let config: string;
let daemon: Daemon;

function localConfig(extra = ""): string {
  return `
[daemon]
state_dir = "state"
socket = "rota.sock"
check_interval_seconds = 1
failure_cooldown_seconds = 1
failure_cooldown_max_seconds = 2

[[ca]]
name = "internal"
type = "local"

[[install]]
name = "files"
type = "filesystem"
dir = "certs"

[[install]]
name = "mirror"
type = "filesystem"
dir = "mirror"

[[cert]]
id = "app"
domains = ["app.home.arpa"]
ca = "internal"
install = ["files", "mirror"]
${extra}`;
}

beforeAll(async () => {
  dir = makeTempDir("rota-cli-");
  socket = join(dir, "rota.sock");
  config = join(dir, "rota.toml");
  writeFileSync(config, localConfig());
  daemon = startDaemon(config);
  await waitForFile(join(dir, "mirror", "app", "cert.pem"));
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

describe("without a daemon", () => {
  test("version", async () => {
    const r = await runRota(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rota \d+\.\d+\.\d+\n$/);
  });

  test("a daemon that is not running is exit 3 with one line", async () => {
    const r = await runRota(["list", "--socket", join(dir, "nobody.sock")]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("not reachable");
  });

  test("an unknown command is a usage error", async () => {
    const r = await runRota(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("frobnicate");
  });

  test("check-config lists every problem with its key path, exits 2, no stack trace", async () => {
    const bad = join(dir, "bad.toml");
    writeFileSync(bad, `${localConfig()}\n[[cert]]\nid = "Bad/Id"\ndomains = []\nca = "nope"\ninstall = "files"\nsurprise = 1\n`);
    for (const cmd of [["check-config", "--config", bad], ["daemon", "--config", bad]]) {
      const r = await runRota(cmd);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('cert[1].id: "Bad/Id" must match [a-z0-9][a-z0-9._-]*');
      expect(r.stderr).toContain("cert[1].domains: must not be empty");
      expect(r.stderr).toContain('cert[1].ca: no [[ca]] named "nope"');
      expect(r.stderr).toContain("cert[1].surprise: unknown key");
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  });

  test("a TOML syntax error names line and column", async () => {
    const bad = join(dir, "syntax.toml");
    writeFileSync(bad, '[daemon]\nstate_dir = "x"\ncheck_interval_seconds = = 3\n');
    const r = await runRota(["check-config", "--config", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("line 3, column");
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  test("a good config checks OK", async () => {
    const r = await runRota(["check-config", "--config", config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("OK (1 cert(s)");
  });
});

describe("with a daemon", () => {
  test("the socket is found through --config, ROTA_CONFIG and ROTA_SOCKET", async () => {
    expect((await runRota(["status", "--config", config])).code).toBe(0);
    expect((await runRota(["status"], { env: { ROTA_CONFIG: config } })).code).toBe(0);
    expect((await runRota(["list"], { env: { ROTA_SOCKET: socket, ROTA_CONFIG: undefined } })).code).toBe(0);
  });

  test("unknown cert ids are exit 4", async () => {
    expect((await runRota(["renew", "nope", "--socket", socket])).code).toBe(4);
    expect((await runRota(["audit", "nope", "--socket", socket])).code).toBe(4);
  });

  test("renew without --force on a healthy cert says it is not due", async () => {
    const r = await runRota(["renew", "app", "--socket", socket]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("app is not due");
  });

  test("renew --force --wait renews and exits 0", async () => {
    const before = serialOf(join(dir, "certs", "app", "cert.pem"));
    const r = await runRota(["renew", "app", "--force", "--wait", "--socket", socket]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("succeeded");
    expect(serialOf(join(dir, "certs", "app", "cert.pem"))).not.toBe(before);
    const limited = await runRota(["audit", "app", "--limit", "1", "--json", "--socket", socket]);
    expect(JSON.parse(limited.stdout)).toHaveLength(1);
  });

  test("a cert file replaced by hand with an older one is re-installed from the store, without a new order", async () => {
    const certDir = join(dir, "certs", "app");
    const stash = join(dir, "old-cert.pem");
    const newest = serialOf(join(certDir, "cert.pem"));
    // Keep the current certificate aside, renew, then put the older one back by hand.
    copyFileSync(join(certDir, "cert.pem"), stash);
    await runRota(["renew", "app", "--force", "--wait", "--socket", socket]);
    const latest = serialOf(join(certDir, "cert.pem"));
    expect(latest).not.toBe(newest);
    copyFileSync(stash, join(certDir, "cert.pem"));
    const row = await waitForRenewal(socket, "app", (r) => r.status === "succeeded" && r.events.every((e) => e.step !== "submit"));
    expect(row.events.map((e) => e.step)).toEqual(["key", "verify", "install"]);
    expect(serialOf(join(certDir, "cert.pem"))).toBe(latest);
  });

  test("a target that failed converges once it can be written", async () => {
    const mirrorDir = join(dir, "mirror", "app");
    expect(Bun.spawnSync(["chattr", "+i", mirrorDir]).exitCode).toBe(0);
    let failed;
    try {
      const r = await runRota(["renew", "app", "--force", "--wait", "--socket", socket]);
      expect(r.code).toBe(1);
      failed = (await audit(socket, "app"))[0]!;
      expect(failed.status).toBe("failed");
      expect(failed.error).toContain("filesystem mirror");
    } finally {
      Bun.spawnSync(["chattr", "-i", mirrorDir]);
    }
    // "files" got the new certificate; "mirror" kept the old one until the scheduler re-installs it.
    const served = serialOf(join(dir, "certs", "app", "cert.pem"));
    await waitFor(() => serialOf(join(mirrorDir, "cert.pem")) === served, 15_000, 100, "mirror to converge");
    const rows = await audit(socket, "app");
    const fix = rows.find((r) => Date.parse(r.started_at) > Date.parse(failed!.started_at) && r.status === "succeeded")!;
    expect(fix.events.map((e) => e.step)).toEqual(["key", "verify", "install"]);
    expect(fix.events.find((e) => e.step === "install")!.message).toBe("installed on mirror");
    expect((await list(socket))[0]!.status).toBe("ok");
    expect(read(join(mirrorDir, "privkey.pem"))).toBe(read(join(dir, "certs", "app", "privkey.pem")));
  });
});
