/**
 * End to end, on the local CA: what the daemon refuses before it starts (a private key in
 * a webroot, a config path that is no file, a socket folder it cannot write) exits 2
 * naming the key, for `rota check-config` and `rota daemon` alike, and creates nothing;
 * an install folder it cannot write is logged while the other certs keep renewing; what
 * cluster mode cannot run (SQLite, a key it would have to create, a local CA root not
 * copied) exits 2 the same way.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, type Daemon } from "../harness/index.ts";
import { list, localCaConfig, waitForFile } from "./helpers.ts";

const asRoot = process.getuid?.() === 0;
let dir: string;

beforeAll(() => {
  dir = makeTempDir("rota-safety-");
  mkdirSync(join(dir, "www"));
});

afterAll(() => removeTempDir(dir));

/** Writes `text` as a config file in its own folder (relative paths resolve there) and returns its path. */
function configFile(name: string, text: string): string {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  const file = join(folder, "rota.toml");
  writeFileSync(file, text);
  return file;
}

const WEBROOT = (path: string) => `\n[[dcv]]\nname = "web"\ntype = "webroot"\npath = ${JSON.stringify(path)}\n`;

function expectNoStack(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe("refused before anything starts", () => {
  test("a key_path inside a webroot: check-config and daemon exit 2 naming the key; nothing is created", async () => {
    const www = join(dir, "www");
    const file = configFile("exposed", localCaConfig({ extra: `key_path = ${JSON.stringify(join(www, "keys", "app.key"))}\n${WEBROOT(www)}` }));
    const line = `  cert[0].key_path: ${www}/keys/app.key is inside the webroot of dcv "web" (${www}): the private key would be served over HTTP`;
    for (const cmd of ["check-config", "daemon"]) {
      const r = await runRota([cmd, "--config", file], { timeoutMs: 10_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`rota: config ${file} is not valid:\n${line}\n`);
    }
    expect(existsSync(join(www, "keys"))).toBe(false);
    expect(existsSync(join(dir, "exposed", "state"))).toBe(false);
  });

  test("an install folder inside a webroot is refused the same way", async () => {
    const www = join(dir, "www");
    const file = configFile("exposed-install", localCaConfig({ extra: WEBROOT(www) }).replace('dir = "certs"', `dir = ${JSON.stringify(join(www, "certs"))}`));
    const r = await runRota(["daemon", "--config", file], { timeoutMs: 10_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`install[0].dir: ${www}/certs is inside the webroot of dcv "web" (${www}): the private keys would be served over HTTP`);
    expectNoStack(r.stderr);
  });

  test("--config /dev/zero or a FIFO exits 2 at once, with one problem", async () => {
    const fifo = join(dir, "config.fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    for (const [path, kind] of [
      ["/dev/zero", "a character device"],
      [fifo, "a FIFO"],
    ] as const) {
      for (const cmd of ["check-config", "daemon"]) {
        const started = Date.now();
        const r = await runRota([cmd, "--config", path], { timeoutMs: 10_000 });
        expect(r.code).toBe(2);
        expect(r.stderr).toBe(`rota: config ${path} is not valid:\n  cannot read: not a regular file (${kind})\n`);
        expect(Date.now() - started).toBeLessThan(5_000);
      }
    }
  });

  test.skipIf(!asRoot)("a read-only socket folder: daemon exits 2 naming daemon.socket, before creating its state", async () => {
    const file = configFile("ro-socket", localCaConfig().replace('socket = "rota.sock"', 'socket = "run/rota.sock"'));
    const run = join(dir, "ro-socket", "run");
    mkdirSync(run);
    expect(Bun.spawnSync(["mount", "--bind", run, run]).exitCode).toBe(0);
    try {
      expect(Bun.spawnSync(["mount", "-o", "remount,ro,bind", run]).exitCode).toBe(0);
      const line = `  daemon.socket: cannot create ${run}/rota.sock: ${run} is not writable (read-only file system)`;
      for (const cmd of ["check-config", "daemon"]) {
        const r = await runRota([cmd, "--config", file], { timeoutMs: 10_000 });
        expect(r.code).toBe(2);
        expect(r.stderr).toBe(`rota: config ${file} is not valid:\n${line}\n`);
      }
      expect(existsSync(join(dir, "ro-socket", "state"))).toBe(false);
    } finally {
      Bun.spawnSync(["umount", run]);
    }
  });

  test("check-config reports a mistake in the file and what the machine would refuse in one run; /proc and /sys are no folders", async () => {
    const text = localCaConfig({ extra: "surprise = 1\n" })
      .replace('state_dir = "state"', 'state_dir = "/proc/rota"')
      .replace('socket = "rota.sock"', 'socket = "/sys/rota.sock"')
      .replace('dir = "certs"', 'dir = "/proc/rota-certs"');
    const file = configFile("everything-wrong", text);
    const r = await runRota(["check-config", "--config", file]);
    expect(r.code).toBe(2);
    const kernel = (path: string, root: string) => `${path} is under ${root}, a kernel filesystem, not a real folder`;
    expect(r.stderr).toBe(
      [
        `rota: config ${file} is not valid:`,
        "  cert[0].surprise: unknown key",
        `  daemon.state_dir: ${kernel("/proc/rota", "/proc")}`,
        `  daemon.socket: ${kernel("/sys/rota.sock", "/sys")}`,
        `  audit.path: ${kernel("/proc/rota/rota.db", "/proc")}`,
        `  cert[0].key_path: ${kernel("/proc/rota/keys/app.key", "/proc")}`,
        `  install[0].dir: ${kernel("/proc/rota-certs", "/proc")}`,
        "",
      ].join("\n"),
    );
  });

  test("check-config warns about a key of another type, which the daemon would replace, and exits 0", async () => {
    const file = configFile("other-type", localCaConfig({ extra: 'key_path = "app.key"' }));
    const key = join(dir, "other-type", "app.key");
    expect(Bun.spawnSync(["openssl", "genrsa", "-out", key, "2048"], { stderr: "ignore" }).exitCode).toBe(0);
    const r = await runRota(["check-config", "--config", file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      `warning: cert[0].key_path: ${key} holds an rsa-2048 key, not the configured ecdsa-p256: the next renewal moves it to ${key}.old and uses a new ecdsa-p256 key\n`,
    );
    expect(r.stdout).toContain("OK (1 cert(s)");
  });

  test("check-config refuses a key_path that holds no private key", async () => {
    const file = configFile("not-a-key", localCaConfig({ extra: 'key_path = "app.key"' }));
    const key = join(dir, "not-a-key", "app.key");
    writeFileSync(key, "my notes\n");
    const r = await runRota(["check-config", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`rota: config ${file} is not valid:\n  cert[0].key_path: ${key} is not a private key (fix or remove the file; rota will not overwrite it)\n`);
  });
});

describe("cluster mode refused before anything starts", () => {
  const CLUSTER = `\n[cluster]\nenabled = true\nnode_id = "nas-1"\n`;
  const never = "in cluster mode rota never generates a key: copy the cert's key to every node";

  test("on SQLite, without the local CA's root, without the cert's key: check-config says every line, the daemon the config's; exit 2, nothing created", async () => {
    const file = configFile("cluster-sqlite", localCaConfig({ extra: CLUSTER }));
    const state = join(dir, "cluster-sqlite", "state");
    const sqlite = `  cluster.enabled: needs [audit] backend = "surrealdb": the lease and the issued certificates live in the shared database`;
    const check = await runRota(["check-config", "--config", file], { timeoutMs: 10_000 });
    expect(check.code).toBe(2);
    expect(check.stderr).toBe(
      [
        `rota: config ${file} is not valid:`,
        sqlite,
        `  ca[0].type: a local CA in cluster mode needs ${state}/local-ca/internal/root.key and root.pem on every node; copy them from the node that made them`,
        `  cert[0].key_path: ${state}/keys/app.key does not exist; ${never}`,
        "",
      ].join("\n"),
    );
    const daemon = await runRota(["daemon", "--config", file], { timeoutMs: 10_000 });
    expect(daemon.code).toBe(2);
    expect(daemon.stderr).toBe(`rota: config ${file} is not valid:\n${sqlite}\n`);
    expect(existsSync(state)).toBe(false);
  });

  test("on SurrealDB with the root copied but no key: the key's line alone, before any connection", async () => {
    const folder = join(dir, "cluster-no-key");
    const root = join(folder, "state", "local-ca", "internal");
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "root.pem"), "-----BEGIN CERTIFICATE-----\n");
    writeFileSync(join(root, "root.key"), "-----BEGIN PRIVATE KEY-----\n");
    writeFileSync(join(folder, "db.pass"), "s3cret\n");
    // Port 9 (discard) answers nothing: a daemon that got as far as connecting would exit 1 after the timeout.
    const audit = `\n[audit]\nbackend = "surrealdb"\nurl = "ws://127.0.0.1:9/rpc"\nusername = "rota"\npassword_file = "db.pass"\nconnect_timeout_seconds = 5\n`;
    const file = configFile("cluster-no-key", localCaConfig({ extra: `key_path = "keys/www.key"\n${audit}${CLUSTER}` }));
    for (const cmd of ["check-config", "daemon"]) {
      const r = await runRota([cmd, "--config", file], { timeoutMs: 10_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`rota: config ${file} is not valid:\n  cert[0].key_path: ${folder}/keys/www.key does not exist; ${never}\n`);
      expectNoStack(r.stderr);
    }
    expect(existsSync(join(folder, "keys"))).toBe(false);
  });
});

describe.skipIf(!asRoot)("an install folder the daemon cannot write", () => {
  let daemon: Daemon | undefined;
  let folder: string;
  let frozen: string;

  beforeAll(async () => {
    const file = configFile(
      "frozen-install",
      `${localCaConfig()}\n[[install]]\nname = "frozen"\ntype = "filesystem"\ndir = "frozen"\n\n[[cert]]\nid = "stuck"\ndomains = ["stuck.home.arpa"]\nca = "internal"\ninstall = "frozen"\n`,
    );
    folder = join(dir, "frozen-install");
    frozen = join(folder, "frozen");
    mkdirSync(frozen);
    expect(Bun.spawnSync(["chattr", "+i", frozen]).exitCode).toBe(0);
    const r = await runRota(["check-config", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`install[1].dir: ${frozen} is not writable (operation not permitted)`);
    daemon = startDaemon(file);
  });

  afterAll(async () => {
    await daemon?.stop();
    Bun.spawnSync(["chattr", "-i", frozen]);
  });

  test("is logged at start, and the other certs keep renewing", async () => {
    await daemon!.waitForOutput(`install[1].dir: ${frozen} is not writable (operation not permitted)`);
    await waitForFile(join(folder, "certs", "app", "cert.pem"));
    expect((await list(join(folder, "rota.sock"))).find((c) => c.id === "app")!.status).toBe("ok");
  });
});
