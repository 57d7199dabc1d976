/**
 * End to end: `scripts/build-binary.ts --release` (issue 15 §1) and the systemd unit it
 * ships. The six cross-compiles take about a minute, so the release folder is built once
 * and reused while the sources it is built from are unchanged (`dist/release.stamp`).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { makeTempDir, removeTempDir, ROTA_BIN } from "../harness/index.ts";

const REPO = join(import.meta.dir, "..", "..");
const RELEASE = join(REPO, "dist", "release");
const STAMP = join(REPO, "dist", "release.stamp");
const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const TARGETS = ["linux-x64", "linux-x64-baseline", "linux-arm64", "linux-x64-musl", "linux-x64-musl-baseline", "linux-arm64-musl"];
const COMPANIONS = ["VERSION", "install.sh", "rota.toml.example", "rota.service.in", "rota-boot.sh"];

/** What the release is built from: the sources, the build script, the lock file and the companions. */
function sourcesDigest(): string {
  const hasher = new Bun.CryptoHasher("sha256");
  const add = (path: string) => {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) add(join(path, name));
    } else if (!path.endsWith(".test.ts")) {
      hasher.update(`${relative(REPO, path)}\n`);
      hasher.update(readFileSync(path));
    }
  };
  for (const p of ["src", "scripts/build-binary.ts", "package.json", "bun.lock", "install.sh", "packaging", "examples/rota.toml"]) add(join(REPO, p));
  return hasher.digest("hex");
}

const run = (cmd: string[], cwd = REPO) => {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};
const has = (cmd: string) => run(["sh", "-c", `command -v ${cmd}`]).code === 0;

let defaultHashBefore: string;
let built: boolean;

beforeAll(() => {
  defaultHashBefore = new Bun.CryptoHasher("sha256").update(readFileSync(ROTA_BIN)).digest("hex");
  const digest = sourcesDigest();
  // The first test checks every file against SHA256SUMS, cached or not.
  const cached = existsSync(STAMP) && readFileSync(STAMP, "utf8") === digest && existsSync(join(RELEASE, "SHA256SUMS"));
  built = !cached;
  if (cached) return;
  const r = run(["bun", "scripts/build-binary.ts", "--release"]);
  if (r.code !== 0) throw new Error(`release build failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  writeFileSync(STAMP, digest);
}, 600_000);

describe("the release folder", () => {
  test("six binaries and the companions, every file in SHA256SUMS, and sha256sum -c passes", () => {
    const expected = [...TARGETS.map((t) => `rota-${VERSION}-${t}`), ...COMPANIONS].sort();
    expect(readdirSync(RELEASE).sort()).toEqual([...expected, "SHA256SUMS"].sort());
    const listed = readFileSync(join(RELEASE, "SHA256SUMS"), "utf8").trim().split("\n");
    expect(listed.map((l) => l.replace(/^[0-9a-f]{64} {2}/, "")).sort()).toEqual(expected);
    const check = run(["sha256sum", "-c", "SHA256SUMS"], RELEASE);
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);
    expect(readFileSync(join(RELEASE, "VERSION"), "utf8")).toBe(`${VERSION}\n`);
    const companions: Record<string, string> = { "rota.toml.example": "examples/rota.toml", "install.sh": "install.sh", "rota.service.in": "packaging/systemd/rota.service.in", "rota-boot.sh": "packaging/dsm/rota-boot.sh" };
    for (const [name, source] of Object.entries(companions)) expect(readFileSync(join(RELEASE, name), "utf8")).toBe(readFileSync(join(REPO, source), "utf8"));
    for (const script of ["install.sh", "rota-boot.sh"]) expect(statSync(join(RELEASE, script)).mode & 0o111).toBe(0o111);
  });

  test("dist/rota is left as it was", () => {
    expect(new Bun.CryptoHasher("sha256").update(readFileSync(ROTA_BIN)).digest("hex")).toBe(defaultHashBefore);
    if (!built) console.warn("release.test.ts: the release folder was reused (sources unchanged), so this held trivially");
  });

  test("each binary's machine and interpreter, by readelf", () => {
    const expected: Record<string, [string, string]> = {
      "linux-x64": ["X86-64", "/lib64/ld-linux-x86-64.so.2"],
      "linux-x64-baseline": ["X86-64", "/lib64/ld-linux-x86-64.so.2"],
      "linux-arm64": ["AArch64", "/lib/ld-linux-aarch64.so.1"],
      "linux-x64-musl": ["X86-64", "/lib/ld-musl-x86_64.so.1"],
      "linux-x64-musl-baseline": ["X86-64", "/lib/ld-musl-x86_64.so.1"],
      "linux-arm64-musl": ["AArch64", "/lib/ld-musl-aarch64.so.1"],
    };
    for (const [target, [machine, interpreter]] of Object.entries(expected)) {
      const r = run(["readelf", "-h", "-l", join(RELEASE, `rota-${VERSION}-${target}`)]);
      expect(r.stdout).toMatch(new RegExp(`Machine:\\s+(Advanced Micro Devices )?${machine}`));
      expect(r.stdout).toContain(`[Requesting program interpreter: ${interpreter}]`);
    }
  });

  test("the x64 build runs here and reports its version and target", () => {
    for (const target of ["linux-x64", "linux-x64-baseline"]) {
      const r = run([join(RELEASE, `rota-${VERSION}-${target}`), "version", "--json"]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ version: VERSION, target, bun: Bun.version });
    }
  });

  const noQemu = !has("qemu-aarch64") ? "qemu-aarch64 missing (Debian qemu-user, from scripts/test-deps.sh)" : !existsSync("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1") ? "no arm64 glibc (Debian libc6-arm64-cross)" : null;
  if (noQemu) console.warn(`release.test.ts: the arm64 run is skipped: ${noQemu}`);
  test.skipIf(noQemu !== null)("the arm64 build runs under qemu-aarch64 and reports linux-arm64", () => {
    const r = run(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", join(RELEASE, `rota-${VERSION}-linux-arm64`), "version", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: VERSION, target: "linux-arm64" });
  });
});

const noAnalyze = has("systemd-analyze") ? null : "systemd-analyze missing";
if (noAnalyze) console.warn(`release.test.ts: the unit checks are skipped: ${noAnalyze}`);
describe.skipIf(noAnalyze !== null)("the systemd unit", () => {
  let dir: string;
  let unit: string;
  beforeAll(() => {
    dir = makeTempDir("rota-unit-");
    unit = join(dir, "rota.service");
    // ExecStart must name a file that exists, or verify complains: the binary just built.
    writeFileSync(unit, readFileSync(join(REPO, "packaging", "systemd", "rota.service.in"), "utf8").replaceAll("@USER@", "rota").replaceAll("@BINDIR@", join(REPO, "dist")));
    return () => removeTempDir(dir);
  });

  test("has no placeholder left once rendered, and systemd-analyze verify says nothing", () => {
    expect(readFileSync(unit, "utf8")).not.toContain("@");
    // verify exits 0 on unknown keys: only an empty stderr proves the unit clean.
    const r = run(["systemd-analyze", "verify", unit]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("systemd-analyze security --offline=yes rates its exposure 3.5 or lower", () => {
    const r = run(["systemd-analyze", "security", "--offline=yes", unit]);
    const exposure = /Overall exposure level for rota\.service: ([\d.]+)/.exec(r.stdout);
    expect(exposure).not.toBeNull();
    expect(Number(exposure![1])).toBeLessThanOrEqual(3.5);
  });
});
