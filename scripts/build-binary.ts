/**
 * @module Builds `dist/rota`: one executable holding daemon and CLI, with the version,
 * target and commit injected. `--bytecode`, `--minify` and `--splitting` cut cold start
 * (`rota version` ~60 ms → ~24 ms: without splitting every lazy import is parsed at start);
 * `--smol` keeps the idle daemon's heap small; `--keep-names` keeps class names that errors
 * read. The binary never reads a `.env` or `bunfig.toml` from the folder it runs in.
 *
 * `--target=X` writes `dist/rota-X`. `--release [--targets=a,b] [--base-url=URL]` writes the
 * release folder `dist/release/` instead (issue 15 §1): one binary per target, the companions
 * install.sh fetches, and `SHA256SUMS` over all of them. Builds are not byte-reproducible, so
 * the sums are always computed from the files just built. `--base-url` is where the folder
 * will be published: it becomes install.sh's `DEFAULT_BASE_URL`, whose placeholder the
 * script refuses.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Every target install.sh can choose; x64 and x64-baseline share one runtime in Bun 1.4.5, both ship. */
const RELEASE_TARGETS = ["linux-x64", "linux-x64-baseline", "linux-arm64", "linux-x64-musl", "linux-x64-musl-baseline", "linux-arm64-musl"] as const;

/** Shipped beside the binaries, under these names. */
const COMPANIONS: readonly [string, string][] = [
  ["install.sh", "install.sh"],
  ["examples/rota.toml", "rota.toml.example"],
  ["packaging/systemd/rota.service.in", "rota.service.in"],
  ["packaging/dsm/rota-boot.sh", "rota-boot.sh"],
];

const root = join(import.meta.dir, "..");
const pkg = (await Bun.file(join(root, "package.json")).json()) as { version: string };
const argv = process.argv.slice(2);
const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const commit = gitCommit();

if (argv.includes("--release")) {
  const wanted = option("targets")?.split(",") ?? [...RELEASE_TARGETS];
  const unknown = wanted.filter((t) => !(RELEASE_TARGETS as readonly string[]).includes(t));
  if (unknown.length > 0) fail(`unknown release target(s) ${unknown.join(", ")}; known: ${RELEASE_TARGETS.join(", ")}`, 2);
  const baseUrl = option("base-url");
  // Checked before a minute of compiling: quotes, spaces or `$` would change what the script's line means.
  if (baseUrl !== undefined && !/^(https?|file):\/\/[^\s"'`$\\]+$/.test(baseUrl)) {
    fail(`--base-url must be an http(s):// or file:// URL without quotes, spaces or $, not ${JSON.stringify(baseUrl)}`, 2);
  }
  const dir = join(root, "dist", "release");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const target of wanted) build(target, join(dir, `rota-${pkg.version}-${target}`));
  writeFileSync(join(dir, "VERSION"), `${pkg.version}\n`);
  for (const [from, to] of COMPANIONS) copyFileSync(join(root, from), join(dir, to));
  if (baseUrl !== undefined) setBaseUrl(join(dir, "install.sh"), baseUrl);
  for (const script of ["install.sh", "rota-boot.sh"]) chmodSync(join(dir, script), 0o755);
  writeFileSync(join(dir, "SHA256SUMS"), sha256sums(dir));
  console.log(`built ${dir} (rota ${pkg.version}, ${wanted.length} target(s), commit ${commit})`);
} else {
  const target = option("target")?.replace(/^bun-/, "");
  mkdirSync(join(root, "dist"), { recursive: true });
  const outfile = join(root, "dist", target ? `rota-${target}` : "rota");
  build(target, outfile);
  console.log(`built ${outfile} (rota ${pkg.version})`);
}

/** One compile; without a target, for this host, named as install.sh would name it. */
function build(target: string | undefined, outfile: string): void {
  const args = [
    "build",
    "--compile",
    "--minify",
    "--keep-names",
    "--bytecode",
    "--splitting",
    "--format=esm",
    "--compile-exec-argv=--smol",
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    `--define=ROTA_VERSION=${JSON.stringify(pkg.version)}`,
    `--define=ROTA_TARGET=${JSON.stringify(target ?? hostTarget())}`,
    `--define=ROTA_COMMIT=${JSON.stringify(commit)}`,
    ...(target ? [`--target=bun-${target}`] : []),
    "--outfile",
    outfile,
    join(root, "src", "main.ts"),
    // A Worker's script is not found by the bundler: listed, it is embedded under `/$bunfs/root/`
    // as laid out under src/ (watch-thread-client.ts names it so).
    join(root, "src", "backends", "install", "filesystem", "watch-thread.ts"),
  ];
  const proc = Bun.spawnSync(["bun", ...args], { cwd: root, stdout: "inherit", stderr: "inherit" });
  if (proc.exitCode !== 0) fail(`build failed (exit ${proc.exitCode})`, proc.exitCode ?? 1);
}

/** `linux-<arch>[-musl]`: musl when its loader is here and glibc's is not, as install.sh decides. */
function hostTarget(): string {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const [musl, glibc] = arch === "arm64" ? ["/lib/ld-musl-aarch64.so.1", "/lib/ld-linux-aarch64.so.1"] : ["/lib/ld-musl-x86_64.so.1", "/lib64/ld-linux-x86-64.so.2"];
  return `${process.platform}-${arch}${existsSync(musl) && !existsSync(glibc) ? "-musl" : ""}`;
}

/** 12 hex characters of HEAD, `-dirty` with uncommitted changes, `unknown` outside git. */
function gitCommit(): string {
  const git = (...args: string[]) => Bun.spawnSync(["git", ...args], { cwd: root, stdout: "pipe", stderr: "ignore" });
  const head = git("rev-parse", "--short=12", "HEAD");
  if (head.exitCode !== 0) return "unknown";
  const dirty = git("status", "--porcelain", "--untracked-files=no").stdout.toString().trim() !== "";
  return `${head.stdout.toString().trim()}${dirty ? "-dirty" : ""}`;
}

/** Writes `url` as install.sh's `DEFAULT_BASE_URL`: the one line that names where releases are published. */
function setBaseUrl(script: string, url: string): void {
  const text = readFileSync(script, "utf8");
  const line = /^DEFAULT_BASE_URL=".*"$/m;
  if (!line.test(text)) fail(`${script} has no DEFAULT_BASE_URL line to set`, 1);
  writeFileSync(script, text.replace(line, `DEFAULT_BASE_URL="${url.replace(/\/+$/, "")}"`));
}

/** `sha256sum` format: the hex digest, two spaces, the file name. */
function sha256sums(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f !== "SHA256SUMS")
    .sort()
    .map((f) => `${new Bun.CryptoHasher("sha256").update(readFileSync(join(dir, f))).digest("hex")}  ${f}\n`)
    .join("");
}

function fail(message: string, code: number): never {
  console.error(message);
  process.exit(code);
}
