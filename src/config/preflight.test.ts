/**
 * @module The pre-start checks against real folders: read-only ones made with a
 * read-only bind mount (EROFS) or `chattr +i` (EPERM), which stop root too, so these
 * tests need root, as CI has.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPem } from "../crypto/keys.ts";
import { loadConfig } from "./load.ts";
import { preflight, type PreflightReport } from "./preflight.ts";

const asRoot = process.getuid?.() === 0;
let dir: string;
/** Immutable: nothing can be created in it. */
let frozen: string;
/** A read-only bind mount of an empty folder. */
let readOnly: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-preflight-"));
  frozen = join(dir, "frozen");
  readOnly = join(dir, "ro");
  mkdirSync(frozen);
  mkdirSync(readOnly);
  writeFileSync(join(frozen, "rota.db"), "");
  writeFileSync(join(dir, "frozen.db"), "");
  writeFileSync(join(dir, "rota.toml"), "");
  writeFileSync(join(dir, "not-a-key.pem"), "just some text\n");
  writeFileSync(join(dir, "rsa.key"), generateKeyPem("rsa-2048"));
  writeFileSync(join(frozen, "rsa.key"), generateKeyPem("rsa-2048"));
  writeFileSync(join(dir, "ed25519.key"), generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  if (!asRoot) return;
  expect(Bun.spawnSync(["chattr", "+i", frozen, join(dir, "frozen.db")]).exitCode).toBe(0);
  expect(Bun.spawnSync(["mount", "--bind", readOnly, readOnly]).exitCode).toBe(0);
  expect(Bun.spawnSync(["mount", "-o", "remount,ro,bind", readOnly]).exitCode).toBe(0);
});

afterAll(() => {
  if (asRoot) {
    Bun.spawnSync(["umount", readOnly]);
    Bun.spawnSync(["chattr", "-R", "-i", dir]);
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Paths {
  stateDir?: string;
  socket?: string;
  audit?: string;
  keyPath?: string;
  keyType?: string;
  installDir?: string;
}

/** A valid config on the local CA; each path defaults to a place under `dir` that does not exist yet. */
function check(p: Paths = {}): PreflightReport {
  const file = join(dir, "rota.toml");
  writeFileSync(
    file,
    `[daemon]
state_dir = ${JSON.stringify(p.stateDir ?? join(dir, "state"))}
socket = ${JSON.stringify(p.socket ?? join(dir, "run", "rota.sock"))}
[audit]
path = ${JSON.stringify(p.audit ?? join(dir, "db", "rota.db"))}
[[ca]]
name = "internal"
type = "local"
[[install]]
name = "files"
type = "filesystem"
dir = ${JSON.stringify(p.installDir ?? join(dir, "certs"))}
[[cert]]
id = "a"
domains = ["a.example"]
ca = "internal"
install = "files"
key_path = ${JSON.stringify(p.keyPath ?? join(dir, "keys", "a.key"))}
key_type = "${p.keyType ?? "ecdsa-p256"}"
`,
  );
  return preflight(loadConfig(file, {}));
}

describe("preflight", () => {
  test("paths that can be created are fine, and nothing is created", () => {
    const before = readdirSync(dir).sort();
    expect(check()).toEqual({ fatal: [], certs: [], warnings: [] });
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  test("an existing key of the configured type is fine", () => {
    expect(check({ keyPath: join(dir, "rsa.key"), keyType: "rsa-2048" })).toEqual({ fatal: [], certs: [], warnings: [] });
  });

  test("a key_path that is not a private key is refused, as the daemon would", () => {
    const key = join(dir, "not-a-key.pem");
    expect(check({ keyPath: key }).certs).toEqual([`cert[0].key_path: ${key} is not a private key (fix or remove the file; rota will not overwrite it)`]);
  });

  test("a key of another type is a warning: the daemon replaces it, keeping .old", () => {
    const rsa = join(dir, "rsa.key");
    const ed = join(dir, "ed25519.key");
    expect(check({ keyPath: rsa })).toEqual({
      fatal: [],
      certs: [],
      warnings: [`cert[0].key_path: ${rsa} holds an rsa-2048 key, not the configured ecdsa-p256: the next renewal moves it to ${rsa}.old and uses a new ecdsa-p256 key`],
    });
    expect(check({ keyPath: ed }).warnings).toEqual([
      `cert[0].key_path: ${ed} holds a key of another type, not the configured ecdsa-p256: the next renewal moves it to ${ed}.old and uses a new ecdsa-p256 key`,
    ]);
  });

  test("paths under /proc and /sys, as written or through a symlink, are refused: they look writable but are no real folders", () => {
    const kernel = join(dir, "kernel");
    symlinkSync("/proc", kernel);
    const report = check({ stateDir: "/proc/rota", socket: "/sys/rota.sock", audit: join(kernel, "rota.db"), keyPath: "/sys/fs/a.key", installDir: "/proc/self/certs" });
    const line = (path: string, root: string) => `${path} is under ${root}, a kernel filesystem, not a real folder`;
    expect(report.fatal).toEqual([`daemon.state_dir: ${line("/proc/rota", "/proc")}`, `daemon.socket: ${line("/sys/rota.sock", "/sys")}`, `audit.path: ${line(join(kernel, "rota.db"), "/proc")}`]);
    expect(report.certs).toEqual([`cert[0].key_path: ${line("/sys/fs/a.key", "/sys")}`, `install[0].dir: ${line("/proc/self/certs", "/proc")}`]);
  });

  describe.skipIf(!asRoot)("read-only folders stop root too", () => {
    test("state_dir, socket folder and audit database under a read-only mount are fatal, each under its key", () => {
      const report = check({ stateDir: join(readOnly, "state"), socket: join(readOnly, "rota.sock"), audit: join(readOnly, "db", "rota.db") });
      expect(report.fatal).toEqual([
        `daemon.state_dir: cannot create ${readOnly}/state: ${readOnly} is not writable (read-only file system)`,
        `daemon.socket: cannot create ${readOnly}/rota.sock: ${readOnly} is not writable (read-only file system)`,
        `audit.path: cannot create ${readOnly}/db/rota.db: ${readOnly} is not writable (read-only file system)`,
      ]);
    });

    test("an existing state_dir that is immutable, and an audit database in one", () => {
      const report = check({ stateDir: frozen, audit: join(frozen, "rota.db") });
      expect(report.fatal).toEqual([`daemon.state_dir: ${frozen} is not writable (operation not permitted)`, `audit.path: ${frozen} is not writable (operation not permitted)`]);
    });

    test("an audit database that is immutable in a writable folder", () => {
      const db = join(dir, "frozen.db");
      expect(check({ audit: db }).fatal).toEqual([`audit.path: ${db} is not writable (operation not permitted)`]);
    });

    test("a key and an install folder that cannot be created are one cert's problems, not fatal", () => {
      const report = check({ keyPath: join(readOnly, "keys", "a.key"), installDir: join(frozen, "certs") });
      expect(report.fatal).toEqual([]);
      expect(report.certs).toEqual([
        `cert[0].key_path: cannot create ${readOnly}/keys/a.key: ${readOnly} is not writable (read-only file system)`,
        `install[0].dir: cannot create ${frozen}/certs: ${frozen} is not writable (operation not permitted)`,
      ]);
    });

    test("a key of another type in a folder where it cannot be replaced is a problem, not a warning", () => {
      const key = join(frozen, "rsa.key");
      expect(check({ keyPath: key })).toEqual({
        fatal: [],
        certs: [`cert[0].key_path: ${key} holds an rsa-2048 key, not the configured ecdsa-p256, and cannot be replaced: cannot create ${key}: ${frozen} is not writable (operation not permitted)`],
        warnings: [],
      });
    });
  });
});
