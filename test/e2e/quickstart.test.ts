/** End to end: README's quickstart config (local CA, files, SQLite) issues a certificate with no network at all. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, ROTA_BIN, runRota, spawnServer, type ServerProcess } from "../harness/index.ts";
import { list, waitForFile } from "./helpers.ts";

const repo = join(import.meta.dir, "..", "..");
let dir: string;
let daemon: ServerProcess;

beforeAll(() => {
  // The same relative layout as the checkout: examples/quickstart.toml writes to ../quickstart/.
  dir = makeTempDir("rota-quickstart-");
  mkdirSync(join(dir, "examples"));
  copyFileSync(join(repo, "examples", "quickstart.toml"), join(dir, "examples", "quickstart.toml"));
  daemon = spawnServer({
    name: "rota-offline",
    logDir: dir,
    // A new network namespace: not even loopback is up.
    cmd: ["unshare", "-n", ROTA_BIN, "daemon", "--config", join(dir, "examples", "quickstart.toml")],
  });
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

test("a certificate appears, chained to the local CA's root", async () => {
  const certDir = join(dir, "quickstart", "certs", "intranet");
  await waitForFile(join(certDir, "fullchain.pem"));
  const root = join(dir, "quickstart", "state", "local-ca", "internal", "root.pem");
  const v = Bun.spawnSync(["openssl", "verify", "-CAfile", root, "-untrusted", join(certDir, "chain.pem"), join(certDir, "cert.pem")], { stdout: "pipe", stderr: "pipe" });
  expect(v.stdout.toString()).toContain(": OK");
  expect(statSync(join(certDir, "privkey.pem")).mode & 0o777).toBe(0o600);
  expect(statSync(join(dir, "quickstart", "state", "local-ca", "internal", "root.key")).mode & 0o777).toBe(0o600);
});

test("the CLI outside the namespace reaches the daemon over its socket", async () => {
  const socket = join(dir, "quickstart", "rota.sock");
  const [cert] = await list(socket);
  expect(cert!.id).toBe("intranet");
  expect(cert!.status).toBe("ok");
  expect(cert!.days_left).toBeGreaterThan(89);
  const byConfig = await runRota(["status", "--config", join(dir, "examples", "quickstart.toml")]);
  expect(byConfig.code).toBe(0);
  expect(byConfig.stdout).toContain("1 cert(s): 1 ok");
});

test("the commented [http] block, uncommented as its comment says, is a valid config", async () => {
  const at = makeTempDir("rota-quickstart-http-");
  try {
    mkdirSync(join(at, "examples"));
    mkdirSync(join(at, "quickstart"));
    const text = readFileSync(join(repo, "examples", "quickstart.toml"), "utf8");
    const uncommented = text.replace(/^# (\[http\]|listen = |token_file = )/gm, "$1");
    expect(uncommented).toContain('\n[http]\nlisten = "127.0.0.1:8844"\n');
    writeFileSync(join(at, "examples", "quickstart.toml"), uncommented);
    writeFileSync(join(at, "quickstart", "api-token"), "0123456789abcdef0123456789abcdef", { mode: 0o600 });
    const r = await runRota(["check-config", "--config", join(at, "examples", "quickstart.toml")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  } finally {
    removeTempDir(at);
  }
});
