/**
 * End to end: the small tools users asked for, on the local CA — `rota show`, `rota list`
 * with relative times, `rota ca root` for trust stores, and `rota renew --new-key`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, ROTA_BIN, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { list, localCaConfig, read, serialOf, waitForFile } from "./helpers.ts";

let dir: string;
let socket: string;
let config: string;
let daemon: Daemon;
const certDir = () => join(dir, "certs", "app");
const keyPath = () => join(dir, "state", "keys", "app.key");

function openssl(...args: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
}

/** The public key of a certificate or a private key, to compare the two. */
const publicKeyOf = (path: string, kind: "cert" | "key") =>
  kind === "cert" ? openssl("x509", "-in", path, "-noout", "-pubkey").out : openssl("pkey", "-in", path, "-pubout").out;

beforeAll(async () => {
  dir = makeTempDir("rota-tools-");
  socket = join(dir, "rota.sock");
  config = join(dir, "rota.toml");
  writeFileSync(config, localCaConfig({ domains: ["app.home.arpa", "www.home.arpa"] }));
  daemon = startDaemon(config);
  await waitForFile(join(certDir(), "cert.pem"));
  await waitFor(async () => (await list(socket).catch(() => []))[0]?.status === "ok", 30_000, 100, "app to be ok");
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

describe("rota show", () => {
  test("prints the cert readably", async () => {
    const r = await runRota(["show", "app", "--socket", socket]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("app: ok");
    expect(lines).toContain("  domains       app.home.arpa, www.home.arpa");
    expect(r.stdout).toMatch(/\n {2}expires {7}in 89 d \(\d{4}-\d\d-\d\dT[\d:.]+Z\)\n/);
    expect(r.stdout).toMatch(/\n {2}renews {8}in 5\d d \(\d{4}-\d\d-\d\dT[\d:.]+Z\), by the lifetime rule\n/);
    expect(lines).toContain("  threshold     - (lifetime rule)");
    expect(lines).toContain("  ca            internal");
    expect(lines).toContain("  dcv           -");
    expect(lines).toContain(`  install       files (serves ${serialOf(join(certDir(), "cert.pem"))}, the newest)`);
    expect(lines).toContain("  key type      ecdsa-p256");
    expect(lines).toContain("  retry at      -");
    expect(r.stdout).toContain(`  serial        ${serialOf(join(certDir(), "cert.pem"))}, issued `);
    expect(r.stdout).toMatch(/\n {2}last renewal {2}succeeded, startup, started (\d+ s ago|now) \(/);
  });

  test("--json prints the API object", async () => {
    const r = await runRota(["show", "app", "--json", "--socket", socket]);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({
      id: "app",
      domains: ["app.home.arpa", "www.home.arpa"],
      status: "ok",
      ca: "internal",
      dcv: null,
      install: ["files"],
      key_type: "ecdsa-p256",
      renew_threshold_days: null,
      renew_threshold_source: null,
      renew_reason: "lifetime",
      lifetime_days: 90,
      profile: null,
      ari: null,
      retry_at: null,
    });
    expect(d.latest_issued.serial).toBe(serialOf(join(certDir(), "cert.pem")));
  });

  test("an unknown cert is exit 4", async () => {
    const r = await runRota(["show", "nope", "--socket", socket]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe('rota: unknown cert id "nope"\n');
  });
});

describe("rota list", () => {
  test("times relative to now; off a terminal the domains are not cut", async () => {
    const r = await runRota(["list", "--socket", socket]);
    expect(r.code).toBe(0);
    const [header, row] = r.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^ID +STATUS +DAYS LEFT +NOT AFTER +RENEW AT +WHY +NEXT CHECK +DOMAINS$/);
    expect(row).toMatch(/^app +ok +(89|90)\.\d\d +in 89 d +in 5\d d +lifetime +(in \d+ s|now) +app\.home\.arpa,www\.home\.arpa$/);
  });

  test("on a terminal the domains are cut to its width, the rest counted as +N", async () => {
    // script(1) gives rota a pseudo-terminal 85 columns wide.
    const p = Bun.spawnSync(["script", "-qec", `stty cols 85; ${ROTA_BIN} list --socket ${socket}`, "/dev/null"], { stdout: "pipe", stderr: "pipe" });
    const rows = p.stdout.toString().replace(/\r/g, "").trimEnd().split("\n");
    expect(rows.at(-1)).toMatch(/^app +ok +(89|90)\.\d\d +in 89 d +in 5\d d +lifetime +(in \d+ s|now) +app\.home\.arpa \+1$/);
    expect(rows.at(-1)!.length).toBeLessThanOrEqual(85);
  });

  test("--utc prints ISO times", async () => {
    const r = await runRota(["list", "--utc", "--socket", socket]);
    const [cert] = await list(socket);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`  ${cert!.not_after}  `);
  });
});

describe("rota ca root", () => {
  test("prints the root that verifies the installed chain, without a daemon", async () => {
    const r = await runRota(["ca", "root", "--config", config], { env: { ROTA_SOCKET: join(dir, "nobody.sock") } });
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("-----BEGIN CERTIFICATE-----\n");
    expect(r.stdout).toBe(read(join(dir, "state", "local-ca", "internal", "root.pem")));
    const rootFile = join(dir, "root-from-cli.pem");
    writeFileSync(rootFile, r.stdout);
    const v = openssl("verify", "-CAfile", rootFile, "-untrusted", join(certDir(), "chain.pem"), join(certDir(), "cert.pem"));
    expect(v.out).toContain(": OK");
    expect((await runRota(["ca", "root", "internal", "--config", config])).stdout).toBe(r.stdout);
  });

  test("a CA that is not a local one is a usage error naming the local ones", async () => {
    const r = await runRota(["ca", "root", "letsencrypt", "--config", config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('rota: no ca named "letsencrypt" (local CAs: internal)\n');
  });
});

describe("rota renew --new-key", () => {
  test("a fresh key: the old one kept as .old, the installed key and certificate match the new one", async () => {
    const oldKey = read(keyPath());
    const oldSerial = serialOf(join(certDir(), "cert.pem"));
    const r = await runRota(["renew", "app", "--new-key", "--wait", "--socket", socket]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`generated a new ecdsa-p256 key in memory; it replaces ${keyPath()} (old kept as .old) once the certificate is issued and verified`);
    expect(r.stdout).toContain(`new key written to ${keyPath()} (old kept as .old)`);

    const newKey = read(keyPath());
    expect(newKey).not.toBe(oldKey);
    expect(read(`${keyPath()}.old`)).toBe(oldKey);
    expect(read(join(certDir(), "privkey.pem"))).toBe(newKey);
    expect(serialOf(join(certDir(), "cert.pem"))).not.toBe(oldSerial);
    expect(publicKeyOf(join(certDir(), "cert.pem"), "cert")).toBe(publicKeyOf(keyPath(), "key"));
  });
});
