/**
 * End to end, on the local CA: the daemon guards its state folder and its files. One
 * daemon per state_dir; a config change of key type or names renews at once; a lost key
 * recovers by itself; an install that fails halfway leaves a matching key and certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, list, localCaConfig, read, serialOf, waitForFile, waitForRenewal } from "./helpers.ts";

let dir: string;
let config: string;
let socket: string;
let daemon: Daemon | undefined;

function writeConfig(cert: { keyType?: string; domains?: string[] } = {}): void {
  writeFileSync(config, localCaConfig(cert));
}

function sh(cmd: string[]): string {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return p.stdout.toString() + p.stderr.toString();
}

/** The public key of the installed key and of the installed certificate: equal when they match. */
function installedPair(): [string, string] {
  const d = join(dir, "certs", "app");
  return [sh(["openssl", "pkey", "-in", join(d, "privkey.pem"), "-pubout"]), sh(["openssl", "x509", "-in", join(d, "cert.pem"), "-noout", "-pubkey"])];
}

beforeAll(async () => {
  dir = makeTempDir("rota-daemon-");
  config = join(dir, "rota.toml");
  socket = join(dir, "rota.sock");
  writeConfig();
  daemon = startDaemon(config);
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
});

afterAll(async () => {
  Bun.spawnSync(["chattr", "-i", join(dir, "certs", "app", "fullchain.pem")]);
  await daemon?.stop();
  removeTempDir(dir);
});

describe("one daemon per state folder", () => {
  test("a second daemon on the same state_dir refuses to start and leaves the first alone", async () => {
    const other = join(dir, "other.toml");
    writeFileSync(other, read(config).replace('socket = "rota.sock"', 'socket = "other.sock"'));
    const r = await runRota(["daemon", "--config", other], { timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("another rota daemon is running on state_dir");
    // The first one answers and its cert settles to ok (its startup renewal may still be closing its row).
    await waitFor(async () => (await list(socket))[0]?.status === "ok", 15_000, 50, "the first daemon's cert to be ok");
  });

  test("a file at the socket path is never replaced", async () => {
    const victim = join(dir, "notes.txt");
    writeFileSync(victim, "precious");
    const other = join(dir, "victim.toml");
    writeFileSync(other, read(config).replace('socket = "rota.sock"', 'socket = "notes.txt"').replace('state_dir = "state"', 'state_dir = "state2"'));
    const r = await runRota(["daemon", "--config", other], { timeoutMs: 10_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("is not a socket");
    expect(readFileSync(victim, "utf8")).toBe("precious");
  });
});

describe("config changes and lost files", () => {
  test("a new key_type renews at once, without --force", async () => {
    const before = serialOf(join(dir, "certs", "app", "cert.pem"));
    // The start kept its parse of the file for the next start; the edited file's bytes must not find it.
    const cache = join(dir, "state", "config-parse.json");
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    await daemon!.stop();
    const restarted = Date.now();
    writeConfig({ keyType: "ecdsa-p384" });
    daemon = startDaemon(config);
    const row = await waitForRenewal(socket, "app", (r) => Date.parse(r.started_at) >= restarted && r.status === "succeeded");
    expect(row.events[0]!.message).toStartWith("replaced with a new ecdsa-p384 key");
    expect(serialOf(join(dir, "certs", "app", "cert.pem"))).not.toBe(before);
    expect(sh(["openssl", "x509", "-in", join(dir, "certs", "app", "cert.pem"), "-noout", "-text"])).toContain("secp384r1");
    const [key, cert] = installedPair();
    expect(key).toBe(cert);
  });

  test("an added name renews at once", async () => {
    await daemon!.stop();
    writeConfig({ keyType: "ecdsa-p384", domains: ["app.home.arpa", "api.home.arpa"] });
    daemon = startDaemon(config);
    await waitForRenewal(socket, "app", (r) => r.status === "succeeded" && r.events.some((e) => e.message.includes("api.home.arpa")));
    expect(sh(["openssl", "x509", "-in", join(dir, "certs", "app", "cert.pem"), "-noout", "-ext", "subjectAltName"])).toContain("DNS:api.home.arpa");
  });

  test("a lost key and lost files recover on their own: a new key and certificate, installed", async () => {
    const before = serialOf(join(dir, "certs", "app", "cert.pem"));
    rmSync(join(dir, "state", "keys", "app.key"));
    rmSync(join(dir, "certs", "app"), { recursive: true });
    await waitForFile(join(dir, "certs", "app", "cert.pem"), 15_000);
    await waitFor(async () => (await list(socket))[0]!.status === "ok", 15_000, 100, "status ok");
    expect(serialOf(join(dir, "certs", "app", "cert.pem"))).not.toBe(before);
    const [key, cert] = installedPair();
    expect(key).toBe(cert);
    expect(read(join(dir, "certs", "app", "privkey.pem"))).toBe(read(join(dir, "state", "keys", "app.key")));
  });

  test("an install that cannot replace every file changes none of them", async () => {
    await daemon!.stop();
    writeConfig({ keyType: "rsa-2048", domains: ["app.home.arpa", "api.home.arpa"] });
    const certDir = join(dir, "certs", "app");
    const before = ["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"].map((f) => read(join(certDir, f)));
    expect(Bun.spawnSync(["chattr", "+i", join(certDir, "fullchain.pem")]).exitCode).toBe(0);
    try {
      daemon = startDaemon(config);
      const row = await waitForRenewal(socket, "app", (r) => r.status === "failed");
      expect(row.events.find((e) => e.step === "install")!.status).toBe("failed");
      expect(["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"].map((f) => read(join(certDir, f)))).toEqual(before);
      const [key, cert] = installedPair();
      expect(key).toBe(cert);
    } finally {
      Bun.spawnSync(["chattr", "-i", join(certDir, "fullchain.pem")]);
    }
    // Once the file can be written again, the next try converges.
    await waitFor(async () => (await audit(socket, "app"))[0]?.status === "succeeded", 15_000, 100, "a successful retry");
    const [key, cert] = installedPair();
    expect(key).toBe(cert);
  });
});
