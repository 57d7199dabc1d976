/** End to end: the compiled binary issues a 2-name certificate from pebble by HTTP-01 through nginx and installs it. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";

let world: World;
let daemon: Daemon;

beforeAll(async () => {
  world = await startWorld();
  const config = world.writeConfig();
  // At debug level in JSON, so the key canary below covers every line the daemon can write.
  daemon = startDaemon(config, { env: world.env, args: ["daemon", "--config", config, "--log-level", "debug", "--log-format", "json"] });
  await waitFor(() => {
    try {
      return statSync(join(world.certsDir, "www", "cert.pem")).isFile();
    } catch {
      return false;
    }
  }, 30_000, 100, "cert.pem to appear");
});

afterAll(async () => {
  await daemon?.stop();
  await world?.stop();
});

function sh(cmd: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

test("the chain verifies against pebble's root and covers both names", async () => {
  const dir = join(world.certsDir, "www");
  writeFileSync(join(world.dir, "pebble-root.pem"), await world.pebble.rootPem());
  const v = sh(["openssl", "verify", "-CAfile", join(world.dir, "pebble-root.pem"), "-untrusted", join(dir, "chain.pem"), join(dir, "cert.pem")]);
  expect(v.out).toContain(": OK");
  expect(v.code).toBe(0);
  const text = sh(["openssl", "x509", "-in", join(dir, "cert.pem"), "-noout", "-ext", "subjectAltName"]).out;
  expect(text).toContain("DNS:www.example.test");
  expect(text).toContain("DNS:example.test");
  const full = readFileSync(join(dir, "fullchain.pem"), "utf8");
  expect(full).toBe(readFileSync(join(dir, "cert.pem"), "utf8") + readFileSync(join(dir, "chain.pem"), "utf8"));
});

test("the installed key is the key at key_path, and modes are right", () => {
  const dir = join(world.certsDir, "www");
  const keyPath = join(world.stateDir, "keys", "www.key");
  const pub = (f: string, kind: "pkey" | "x509") =>
    sh(kind === "pkey" ? ["openssl", "pkey", "-in", f, "-pubout"] : ["openssl", "x509", "-in", f, "-noout", "-pubkey"]).out;
  expect(pub(join(dir, "privkey.pem"), "pkey")).toBe(pub(keyPath, "pkey"));
  expect(pub(join(dir, "cert.pem"), "x509")).toBe(pub(keyPath, "pkey"));
  const mode = (f: string) => statSync(f).mode & 0o777;
  expect(mode(join(dir, "privkey.pem"))).toBe(0o600);
  expect(mode(keyPath)).toBe(0o600);
  for (const f of ["cert.pem", "chain.pem", "fullchain.pem"]) expect(mode(join(dir, f))).toBe(0o644);
  expect(mode(dir)).toBe(0o755);
  expect(mode(world.socket)).toBe(0o600);
  expect(mode(join(world.stateDir, "acme", "pebble", "account.key"))).toBe(0o600);
});

test("no challenge file is left in the webroot", () => {
  const challengeDir = join(world.webroot, ".well-known", "acme-challenge");
  expect(readdirSync(challengeDir)).toEqual([]);
});

test("pebble was trusted through ca_bundle alone (no NODE_EXTRA_CA_CERTS)", async () => {
  expect(daemon.output()).not.toContain("NODE_EXTRA_CA_CERTS");
  const audit = await runRota(["audit", "www", "--json", "--socket", world.socket]);
  expect(audit.code).toBe(0);
  const rows = JSON.parse(audit.stdout);
  expect(rows[0].status).toBe("succeeded");
  expect(rows[0].trigger).toBe("startup");
  expect(rows[0].events.map((e: { step: string }) => e.step)).toEqual([
    "key", "csr", "submit", "preflight", "publish", "propagate", "await_issuance", "remove", "verify", "persist", "install",
  ]);
  // Nothing to wait for with http-01: propagate is the one step skipped.
  expect(rows[0].events.filter((e: { status: string }) => e.status !== "ok").map((e: { step: string }) => e.step)).toEqual(["propagate"]);
});

test("the private key appears in neither the database nor the daemon's log", () => {
  const key = readFileSync(join(world.stateDir, "keys", "www.key"), "utf8");
  const body = key.split("\n").filter((l) => l && !l.startsWith("-----"))[0]!;
  const db = readFileSync(join(world.stateDir, "rota.db"));
  const wal = (() => {
    try {
      return readFileSync(join(world.stateDir, "rota.db-wal"));
    } catch {
      return Buffer.alloc(0);
    }
  })();
  expect(db.includes(body)).toBe(false);
  expect(wal.includes(body)).toBe(false);
  expect(daemon.output()).not.toContain(body);
  const account = readFileSync(join(world.stateDir, "acme", "pebble", "account.key"), "utf8").split("\n").filter((l) => l && !l.startsWith("-----"));
  for (const part of account) expect(daemon.output()).not.toContain(part);
});

test("each ACME request is a debug line: method, URL, status, time", () => {
  const acme = daemon
    .output()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { level: string; component: string; cert: string | null; msg: string })
    .filter((l) => l.component === "acme");
  expect(acme.length).toBeGreaterThan(5);
  for (const l of acme) {
    expect(l).toMatchObject({ level: "debug", cert: "www" });
    expect(l.msg).toMatch(/^acme pebble: (GET|HEAD|POST) https:\/\/127\.0\.0\.1:\d+\/\S* (\d{3} in \d+ ms|failed \(\S+\) in \d+ ms)$/);
  }
  expect(acme.some((l) => / POST \S+\/order-plz 201 /.test(l.msg))).toBe(true);
});
