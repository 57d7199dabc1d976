/**
 * End to end: install.sh run for real in throwaway roots (test/harness/chroot.ts), under
 * dash and busybox ash, fetching from a loopback HTTP server that serves a release
 * folder: the real x64 binary and, for the other targets, checksummed stubs that answer
 * `version --json` as their target would. The server's request log shows which build was
 * chosen; the shims' log shows what install.sh asked of systemctl and useradd.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { makeTemplate, ThrowawayRoot, BUSYBOX, type RootSpec } from "../harness/chroot.ts";
import { removeTempDir, ROTA_BIN, waitFor } from "../harness/index.ts";
import { freePort } from "../harness/ports.ts";

const REPO = join(import.meta.dir, "..", "..");
const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const SCRIPT = readFileSync(join(REPO, "install.sh"), "utf8");
const STUB_TARGETS = ["linux-x64-baseline", "linux-arm64", "linux-x64-musl", "linux-x64-musl-baseline", "linux-arm64-musl"];
const binaryName = (target: string) => `rota-${VERSION}-${target}`;

const skip = process.getuid?.() !== 0 ? "needs root (chroot, mount)" : !existsSync(BUSYBOX) ? `${BUSYBOX} missing (busybox-static, from scripts/test-deps.sh)` : null;
if (skip) console.warn(`install-sh.test.ts skipped: ${skip}`);

/** What the server hands out, by name; SHA256SUMS is computed from it unless `sums` is set. */
let files: Map<string, Uint8Array>;
let sums: string | null;
let requests: string[];
let server: Server<undefined>;
let base: string;
let template: string;
let root: ThrowawayRoot | null = null;

function stub(target: string): Uint8Array {
  return new TextEncoder().encode(`#!/bin/sh\necho '{"version":"${VERSION}","target":"${target}","commit":"stub","bun":"1.4.5"}'\n`);
}

function releaseFiles(): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  m.set("VERSION", new TextEncoder().encode(`${VERSION}\n`));
  m.set(binaryName("linux-x64"), readFileSync(ROTA_BIN));
  for (const t of STUB_TARGETS) m.set(binaryName(t), stub(t));
  m.set("install.sh", new TextEncoder().encode(SCRIPT));
  m.set("rota.toml.example", readFileSync(join(REPO, "examples", "rota.toml")));
  m.set("rota.service.in", readFileSync(join(REPO, "packaging", "systemd", "rota.service.in")));
  m.set("rota-boot.sh", readFileSync(join(REPO, "packaging", "dsm", "rota-boot.sh")));
  return m;
}

function computeSums(): string {
  return [...files.entries()].map(([name, bytes]) => `${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}  ${name}\n`).join("");
}

beforeAll(() => {
  if (skip) return;
  template = makeTemplate(ROTA_BIN);
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const name = new URL(req.url).pathname.slice(1);
      requests.push(name);
      if (name === "SHA256SUMS") return new Response(sums ?? computeSums());
      const bytes = files.get(name);
      return bytes ? new Response(new Blob([bytes as Uint8Array<ArrayBuffer>])) : new Response("not found", { status: 404 });
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(() => {
  server?.stop(true);
  if (template) removeTempDir(template);
});

afterEach(() => {
  root?.close();
  root = null;
});

function fresh(spec: RootSpec = {}): ThrowawayRoot {
  files = releaseFiles();
  sums = null;
  requests = [];
  root = ThrowawayRoot.create(template, spec);
  return root;
}

const install = (r: ThrowawayRoot, args: string[] = [], shell: "dash" | "ash" = "dash", env: Record<string, string> = {}) =>
  r.run(SCRIPT, args, { shell, env: { ROTA_BASE_URL: base, ...env } });

/** The binaries the server handed out. */
const downloaded = () => requests.filter((n) => n.startsWith("rota-") && n !== "rota-boot.sh");

describe.skipIf(skip !== null)("install.sh", () => {
  const noShellcheck = Bun.which("shellcheck") ? null : "shellcheck missing (from scripts/test-deps.sh)";
  if (noShellcheck) console.warn(`install-sh.test.ts: ${noShellcheck}`);
  test.skipIf(noShellcheck !== null)("shellcheck finds nothing in install.sh and rota-boot.sh", () => {
    const r = Bun.spawnSync(["shellcheck", "install.sh", "packaging/dsm/rota-boot.sh"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  for (const shell of ["dash", "ash"] as const) {
    test(`a fresh install under ${shell}: files, modes, owners, the unit, enable --now, and the daemon answers`, async () => {
      const r = fresh();
      const out = await install(r, [], shell);
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      expect(downloaded()).toEqual([binaryName("linux-x64")]);
      expect(r.stat("/usr/local/bin/rota")).toEqual({ mode: 0o755, owner: "root", group: "root" });
      expect(readFileSync(r.path("/usr/local/bin/rota")).equals(readFileSync(ROTA_BIN))).toBe(true);
      expect(r.stat("/etc/rota")).toEqual({ mode: 0o750, owner: "root", group: "rota" });
      expect(r.stat("/var/lib/rota")).toEqual({ mode: 0o700, owner: "rota", group: "rota" });
      expect(r.stat("/etc/ssl/rota")).toEqual({ mode: 0o755, owner: "rota", group: "rota" });
      expect(r.stat("/etc/rota/rota.toml")).toEqual({ mode: 0o640, owner: "root", group: "rota" });
      expect(r.read("/etc/rota/rota.toml")).toBe(readFileSync(join(REPO, "examples", "rota.toml"), "utf8"));
      const unit = r.read("/etc/systemd/system/rota.service");
      expect(unit).toContain("User=rota\nGroup=rota\nExecStart=/usr/local/bin/rota daemon --config /etc/rota/rota.toml\n");
      expect(unit).not.toContain("@");
      expect(r.callsOf("useradd")).toEqual(["useradd --system --user-group --no-create-home --shell /usr/sbin/nologin rota"]);
      expect(r.callsOf("systemctl")).toEqual(["systemctl daemon-reload", "systemctl enable --now rota"]);
      expect(out.stdout).toContain(`rota ${VERSION} (linux-x64) installed: /usr/local/bin/rota`);
      expect(out.stdout).toContain("run: rota doctor --config /etc/rota/rota.toml");
      // The example config works as shipped: the daemon the unit started issues its certificate.
      await waitFor(() => r.exists("/etc/ssl/rota/example/cert.pem"), 20_000, 100, "the example's certificate");
      expect(r.exec(["/bin/busybox", "ls", "-A", "/tmp"]).stdout).toBe("");
      // What the summary says to run judges the layout for the service user rota. (The systemctl
      // shim runs the daemon as root, so the files it made are root's: doctor's keys check says so.)
      const doctor = r.exec(["/usr/local/bin/rota", "doctor"]);
      expect(doctor.stderr).toBe("");
      expect(doctor.stdout).toContain("ok  config  /etc/rota/rota.toml: 1 cert(s)");
      expect(doctor.stdout).toContain("ok  state_dir  /var/lib/rota: owned by rota, 0700, writable");
      expect(doctor.stdout).toContain(`ok  daemon  rota ${VERSION} answers at /run/rota/rota.sock`);
      expect(doctor.stdout).toContain("ok  install:files  /etc/ssl/rota writable by rota");
    });
  }

  describe("the build chosen by architecture, libc and AVX2", () => {
    const cases: [string, RootSpec, string][] = [
      ["x86_64 without AVX2", { avx2: false }, "linux-x64-baseline"],
      ["x86_64 on musl", { musl: true }, "linux-x64-musl"],
      ["x86_64 on musl without AVX2", { musl: true, avx2: false }, "linux-x64-musl-baseline"],
      ["aarch64", { machine: "aarch64" }, "linux-arm64"],
      ["arm64 on musl", { machine: "arm64", musl: true }, "linux-arm64-musl"],
    ];
    for (const [name, spec, target] of cases) {
      test(`${name} → ${target}`, async () => {
        const r = fresh(spec);
        const out = await install(r, ["--no-service"]);
        expect(out.code).toBe(0);
        expect(downloaded()).toEqual([binaryName(target)]);
        expect(out.stdout).toContain(`(${target}) installed`);
        expect(r.callsOf("systemctl")).toEqual([]);
      });
    }

    test("SHA256SUMS in upper-case hex with CRLF lines verifies, as sha256sum -c would", async () => {
      const r = fresh();
      sums = computeSums()
        .split("\n")
        .map((l) => l.replace(/^[0-9a-f]{64}/, (h) => h.toUpperCase()))
        .join("\r\n");
      const out = await install(r, ["--no-service"]);
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      expect(readFileSync(r.path("/usr/local/bin/rota")).equals(readFileSync(ROTA_BIN))).toBe(true);
    });

    test("musl without libstdc++ and libgcc: exit 2 with the apk command", async () => {
      const r = fresh({ musl: true, muslLibs: false });
      const out = await install(r);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain("apk add libstdc++ libgcc");
      expect(downloaded()).toEqual([]);
    });

    test("armv7: exit 2, 32-bit is not supported", async () => {
      const r = fresh({ machine: "armv7l" });
      const out = await install(r);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain("32-bit armv7l is not supported");
    });

    test("not Linux: exit 2", async () => {
      const out = await install(fresh({ os: "FreeBSD" }));
      expect(out.code).toBe(2);
      expect(out.stderr).toContain("FreeBSD is not supported");
    });
  });

  describe("verification refused: exit 3, nothing changed outside the temp dir", () => {
    const refused = async (prepare: () => void, message: RegExp, spec: RootSpec = {}) => {
      const r = fresh(spec);
      prepare();
      const before = r.treeHash();
      const out = await install(r);
      expect(out.stderr).toMatch(message);
      expect(out.code).toBe(3);
      expect(r.treeHash()).toBe(before);
      expect(r.calls().filter((c) => !c.startsWith("uname") && !c.startsWith("ldd"))).toEqual([]);
    };

    test("a tampered binary", () =>
      refused(() => {
        sums = computeSums();
        const bytes = files.get(binaryName("linux-x64"))!;
        files.set(binaryName("linux-x64"), Buffer.concat([bytes, Buffer.from("x")]));
      }, new RegExp(`SHA-256 mismatch for ${binaryName("linux-x64")}: expected [0-9a-f]{64}, got [0-9a-f]{64}; nothing was installed`)));

    test("a binary with no entry in SHA256SUMS", () =>
      refused(() => {
        sums = computeSums()
          .split("\n")
          .filter((l) => !l.endsWith(`  ${binaryName("linux-x64")}`))
          .join("\n");
      }, /SHA-256 mismatch for rota-\S+-linux-x64: expected no entry in SHA256SUMS, got [0-9a-f]{64}; nothing was installed/));

    // SHA256SUMS covers the companions too: the unit and the boot script run as root.
    for (const [name, spec] of [
      ["rota.service.in", {}],
      ["rota-boot.sh", { dsmMajor: 7 }],
      ["rota.toml.example", {}],
    ] as const) {
      test(`a tampered ${name}`, () =>
        refused(
          () => {
            sums = computeSums();
            files.set(name, new TextEncoder().encode(`${new TextDecoder().decode(files.get(name)!)}\n# tampered\n`));
          },
          new RegExp(`SHA-256 mismatch for ${name.replace(/\./g, "\\.")}: expected [0-9a-f]{64}, got [0-9a-f]{64}; nothing was installed`),
          spec,
        ));
    }

    test("a binary that does not run here", () =>
      refused(() => {
        files.set(binaryName("linux-x64"), new TextEncoder().encode("#!/bin/sh\necho 'Illegal instruction' >&2\nexit 132\n"));
      }, /the downloaded rota does not run here \(kernel [^)]+\).*Illegal instruction.*nothing was installed/s));
  });

  describe("upgrades", () => {
    test("an edited config is kept byte for byte; stop before the swap, start after", async () => {
      const r = fresh();
      expect((await install(r)).code).toBe(0);
      const edited = `${r.read("/etc/rota/rota.toml")}\n# edited by hand\n`;
      r.write("/etc/rota/rota.toml", edited);
      const callsBefore = r.calls().length;
      const out = await install(r, [], "ash");
      expect(out.code).toBe(0);
      expect(r.read("/etc/rota/rota.toml")).toBe(edited);
      expect(r.read("/etc/rota/rota.toml.example")).toBe(readFileSync(join(REPO, "examples", "rota.toml"), "utf8"));
      expect(r.calls().slice(callsBefore).filter((c) => c.startsWith("systemctl"))).toEqual(["systemctl stop rota", "systemctl daemon-reload", "systemctl enable rota", "systemctl start rota"]);
      expect(r.exec(["/usr/local/bin/rota", "status", "--config", "/etc/rota/rota.toml"]).code).toBe(0);
    });

    test("a config the new version rejects: exit 1 listing the problem, the old binary kept, the service left alone", async () => {
      const r = fresh();
      const old = "#!/bin/sh\necho old rota\n";
      r.write("/usr/local/bin/rota", old, 0o755);
      r.write("/etc/rota/rota.toml", '[daemon]\nstate_dir = "/var/lib/rota"\nsurprise = 1\n');
      const out = await install(r);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain("daemon.surprise");
      expect(out.stderr).toContain("nothing was changed");
      expect(r.read("/usr/local/bin/rota")).toBe(old);
      expect(r.callsOf("systemctl")).toEqual([]);
      expect(r.callsOf("useradd")).toEqual([]);
    });

    // The previous rota as a stub: `daemon` stays up and `status` answers while it does.
    const OLD = `#!/bin/sh
case $1 in
daemon) echo $$ >/run/old-daemon.pid; exec sleep 600 ;;
status) [ -f /run/old-daemon.pid ] && kill -0 "$(cat /run/old-daemon.pid)" 2>/dev/null ;;
*) echo old rota ;;
esac
`;
    const OLD_UNIT = "[Service]\nExecStart=/usr/local/bin/rota daemon --config /etc/rota/rota.toml\n";

    test("a daemon that fails to start after the swap: the previous binary is put back and started, and said to run when it answers", async () => {
      const r = fresh();
      r.write("/usr/local/bin/rota", OLD, 0o755);
      r.write("/etc/systemd/system/rota.service", OLD_UNIT);
      r.write("/shim/fail-start", "1");
      const out = await install(r);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain("the upgraded daemon failed to start; the previous rota runs again. See: journalctl -u rota -n 20");
      expect(r.read("/usr/local/bin/rota")).toBe(OLD);
      expect(r.callsOf("systemctl")).toEqual(["systemctl stop rota", "systemctl daemon-reload", "systemctl enable rota", "systemctl start rota", "systemctl stop rota", "systemctl start rota"]);
      expect(r.exec(["/usr/local/bin/rota", "status"]).code).toBe(0);
    }, 60_000);

    test("…and when the previous one does not start either, the message says so with the service's state", async () => {
      const r = fresh();
      r.write("/usr/local/bin/rota", OLD, 0o755);
      r.write("/etc/systemd/system/rota.service", OLD_UNIT);
      r.write("/shim/fail-start", "");
      const out = await install(r);
      expect(out.code).toBe(1);
      expect(out.stderr).not.toContain("runs again");
      expect(out.stderr).toContain("the upgraded daemon failed to start; the previous binary is back in /usr/local/bin/rota but does not answer either (systemctl is-active rota: inactive). See: journalctl -u rota -n 20");
      expect(r.read("/usr/local/bin/rota")).toBe(OLD);
      expect(r.callsOf("systemctl").at(-1)).toBe("systemctl is-active rota");
    }, 60_000);

    // The unit's drop-in sets the variable; install.sh's shell has not got it (issue 15 review).
    test("a config reading a secret from the service's environment: upgraded, the unset variable a warning; a real error in it still refused", async () => {
      const r = fresh();
      r.write("/usr/local/bin/rota", OLD, 0o755);
      const port = await freePort();
      const config = `${readFileSync(join(REPO, "examples", "rota.toml"), "utf8")}\n[http]\nlisten = "127.0.0.1:${port}"\ntoken_env = "ROTA_HTTP_TOKEN"\n`;
      r.write("/etc/systemd/system/rota.service.d/env.conf", "[Service]\nEnvironment=ROTA_HTTP_TOKEN=0123456789abcdef0123\n");
      r.write("/etc/rota/rota.toml", `${config}surprise = 1\n`);
      const refused = await install(r);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("http.surprise");
      expect(refused.stderr).toContain("nothing was changed");
      expect(r.read("/usr/local/bin/rota")).toBe(OLD);
      expect(r.callsOf("systemctl")).toEqual([]);

      r.write("/etc/rota/rota.toml", config);
      const out = await install(r);
      expect(out.stderr).toBe("warning: http.token_env: environment variable ROTA_HTTP_TOKEN is not set here; the service's environment must set it\n");
      expect(out.code).toBe(0);
      expect(r.read("/etc/rota/rota.toml")).toBe(config);
      expect(readFileSync(r.path("/usr/local/bin/rota")).equals(readFileSync(ROTA_BIN))).toBe(true);
      // The daemon the shim started with the drop-in's environment takes that token.
      const answer = await fetch(`http://127.0.0.1:${port}/api/status`, { headers: { authorization: "Bearer 0123456789abcdef0123" } });
      expect(answer.status).toBe(200);
    }, 60_000);
  });

  test("--dry-run says what it would do and changes nothing", async () => {
    const r = fresh();
    const before = r.treeHash();
    const out = await install(r, ["--dry-run"]);
    expect(out.code).toBe(0);
    expect(r.treeHash()).toBe(before);
    expect(out.stdout).toContain(`would download ${base}/${binaryName("linux-x64")}`);
    expect(out.stdout).toContain("would write /etc/rota/rota.toml (0640, root:rota)");
    expect(out.stdout).toContain("would create /var/lib/rota (0700, rota:rota)");
    expect(out.stdout).toContain("would run systemctl enable --now rota");
    expect(out.stdout).toContain(`--dry-run: rota ${VERSION} (linux-x64) would be installed as /usr/local/bin/rota; nothing was changed.`);
    expect(out.stdout).not.toContain("installed:");
    expect(r.callsOf("systemctl")).toEqual([]);
    expect(downloaded()).toEqual([]);
  });

  test("--uninstall keeps config and state; --purge --yes removes them and the user", async () => {
    const r = fresh();
    expect((await install(r)).code).toBe(0);
    const kept = await install(r, ["--uninstall"]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain(
      "rota is removed: /etc/systemd/system/rota.service, /usr/local/bin/rota. Kept: the config in /etc/rota and the state (keys, audit database) in /var/lib/rota; --uninstall --purge deletes them.\n",
    );
    expect(r.exists("/usr/local/bin/rota")).toBe(false);
    expect(r.exists("/etc/systemd/system/rota.service")).toBe(false);
    expect(r.exists("/etc/rota/rota.toml")).toBe(true);
    expect(r.exists("/var/lib/rota")).toBe(true);
    expect(r.callsOf("systemctl").slice(-2)).toEqual(["systemctl disable --now rota", "systemctl daemon-reload"]);

    const unconfirmed = await install(r, ["--uninstall", "--purge"]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain("--yes");
    expect(r.exists("/var/lib/rota")).toBe(true);

    // What the service user wrote under /etc/ssl/rota (the shim runs the daemon as root, so as it would have).
    r.write("/etc/ssl/rota/web/privkey.pem", "key", 0o600);
    r.write("/etc/ssl/rota/web/fullchain.pem", "chain", 0o644);
    for (const p of ["/etc/ssl/rota/web", "/etc/ssl/rota/web/privkey.pem", "/etc/ssl/rota/web/fullchain.pem"]) chownSync(r.path(p), 999, 999);
    const purged = await install(r, ["--uninstall", "--purge", "--yes"]);
    expect(purged.code).toBe(0);
    expect(r.exists("/etc/rota")).toBe(false);
    expect(r.exists("/var/lib/rota")).toBe(false);
    expect(r.callsOf("userdel")).toEqual(["userdel rota"]);
    expect(r.read("/etc/passwd")).not.toContain("rota:");
    expect(purged.stdout).toContain("rota is removed: /etc/rota, /var/lib/rota, the user rota.\n");
    // The keys stay for the servers that read them, owned by no uid a new user could get.
    expect(r.stat("/etc/ssl/rota/web/privkey.pem")).toEqual({ mode: 0o600, owner: "root", group: "root" });
    expect(r.stat("/etc/ssl/rota/web/fullchain.pem")).toEqual({ mode: 0o644, owner: "root", group: "root" });
    expect(r.stat("/etc/ssl/rota")).toEqual({ mode: 0o755, owner: "root", group: "root" });
    expect(purged.stdout).toContain("Kept: /etc/ssl/rota (certificates and keys), now owned by root where rota or its group owned them (4 path(s) by owner, 4 by group).");
  });

  // An independent tester's findings on --uninstall: a summary naming paths that did not exist, and a unit removed without its binary.
  describe("--uninstall says what it removed and kept", () => {
    test("nothing installed: says so, exit 0, nothing run or changed; also with --purge --yes", async () => {
      const r = fresh();
      const before = r.treeHash();
      for (const args of [["--uninstall"], ["--uninstall", "--purge", "--yes"]]) {
        const out = await install(r, args);
        expect(out.stderr).toBe("");
        expect(out.code).toBe(0);
        expect(out.stdout).toBe("rota is not installed here: none of /etc/systemd/system/rota.service, /usr/local/bin/rota, /etc/rota, /var/lib/rota exists; nothing was removed.\n");
      }
      expect(r.treeHash()).toBe(before);
      expect(r.calls().filter((c) => !c.startsWith("uname") && !c.startsWith("ldd"))).toEqual([]);
    });

    test("--prefix other than the install's: exit 2 naming the unit's binary and the --prefix to use, nothing removed; with it, both go", async () => {
      const r = fresh();
      expect((await install(r)).code).toBe(0);
      // The daemon the unit started writes its state: stopped, so the tree holds still.
      expect(r.exec(["systemctl", "stop", "rota"]).code).toBe(0);
      const callsBefore = r.calls().length;
      const before = r.treeHash();
      const wrong = await install(r, ["--uninstall", "--prefix", "/opt/rota"]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toBe("install.sh: /etc/systemd/system/rota.service starts /usr/local/bin/rota, not /opt/rota/bin/rota: run --uninstall --prefix /usr/local; nothing was removed\n");
      expect(wrong.stdout).toBe("");
      expect(r.treeHash()).toBe(before);
      expect(r.calls().slice(callsBefore).filter((c) => c.startsWith("systemctl"))).toEqual([]);
      const right = await install(r, ["--uninstall", "--prefix", "/usr/local"]);
      expect(right.code).toBe(0);
      expect(right.stdout).toContain("rota is removed: /etc/systemd/system/rota.service, /usr/local/bin/rota.");
      expect(r.exists("/usr/local/bin/rota")).toBe(false);
    });

    test("a --no-service install (no unit): the binary removed, only what exists named; --dry-run says what a real run would do and changes nothing", async () => {
      const r = fresh();
      expect((await install(r, ["--no-service"])).code).toBe(0);
      rmSync(r.path("/var/lib/rota"), { recursive: true });
      const before = r.treeHash();
      const dry = await install(r, ["--uninstall", "--dry-run"]);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toBe("would run rm -rf /usr/local/bin/rota\n--dry-run: would remove: /usr/local/bin/rota; nothing was changed. Would keep: the config in /etc/rota; --uninstall --purge deletes them.\n");
      expect(r.treeHash()).toBe(before);
      const out = await install(r, ["--uninstall"]);
      expect(out.code).toBe(0);
      expect(out.stdout).toBe("rota is removed: /usr/local/bin/rota. Kept: the config in /etc/rota; --uninstall --purge deletes them.\n");
      expect(r.callsOf("systemctl")).toEqual([]);
      const again = await install(r, ["--uninstall"]);
      expect(again.code).toBe(0);
      expect(again.stdout).toBe("Nothing to remove: no unit, binary or boot script of rota is here. Kept: the config in /etc/rota; --uninstall --purge deletes them.\n");
    });
  });

  // An independent tester's findings: these reached the unit (User=x y), a late failure, or the server's file names.
  describe("option values outside what they allow: exit 2 before anything is fetched or changed", () => {
    const cases: [string[], string][] = [
      [["--user", "a;b"], "--user must be a portable user name ([a-z_][a-z0-9_-]*, $ at the end allowed, at most 32 characters), not a;b"],
      [["--user", "x y"], "--user must be a portable user name"],
      [["--user", "Rota"], "--user must be a portable user name"],
      [["--user", "r".repeat(33)], "--user must be a portable user name"],
      [["--prefix", "/opt/my dir"], "--prefix may hold letters, digits and / . _ + - only, not /opt/my dir"],
      [["--prefix", "/opt/$HOME"], "--prefix may hold letters, digits and / . _ + - only"],
      [["--prefix", "/opt/%h"], "--prefix may hold letters, digits and / . _ + - only"],
      [["--version", "../../etc/passwd"], "--version must look like 1.2.3 or 1.2.3-rc.1, not ../../etc/passwd"],
      [["--version", "1.2-a/b"], "--version must look like 1.2.3 or 1.2.3-rc.1"],
      [["--dsm-volume", "/volume1 x"], "--dsm-volume must look like /volume1, not /volume1 x"],
    ];
    for (const [args, message] of cases) {
      test(`${args.join(" ")}`, async () => {
        const r = fresh();
        const before = r.treeHash();
        const out = await install(r, args);
        expect(out.code).toBe(2);
        expect(out.stderr).toContain(`install.sh: ${message}`);
        expect(requests).toEqual([]);
        expect(r.treeHash()).toBe(before);
        expect(r.calls().filter((c) => !c.startsWith("uname") && !c.startsWith("ldd"))).toEqual([]);
      });
    }

    test("the portable names and versions pass: --user _svc-1$ is not refused, --version 1.2.3-rc.1 asks for its file", async () => {
      const r = fresh();
      const out = await install(r, ["--dry-run", "--user", "_svc-1$", "--version", "1.2.3-rc.1"]);
      expect(out.code).toBe(0);
      expect(out.stdout).toContain(`would download ${base}/rota-1.2.3-rc.1-linux-x64`);
      expect(out.stdout).toContain("would create the system user _svc-1$");
    });

    test("a VERSION file that holds no version: exit 3, no binary asked for", async () => {
      const r = fresh();
      files.set("VERSION", new TextEncoder().encode("../../etc/passwd\n"));
      const before = r.treeHash();
      const out = await install(r);
      expect(out.code).toBe(3);
      expect(out.stderr).toContain(`install.sh: ${base}/VERSION does not hold a version (../../etc/passwd`);
      expect(requests).toEqual(["VERSION"]);
      expect(r.treeHash()).toBe(before);
    });
  });

  test("--dry-run after a --no-service install: folders that exist are set, not created; no stop of a service that has no unit", async () => {
    const r = fresh();
    expect((await install(r, ["--no-service"])).code).toBe(0);
    const before = r.treeHash();
    const out = await install(r, ["--dry-run"]);
    expect(out.code).toBe(0);
    expect(r.treeHash()).toBe(before);
    expect(out.stdout).toContain("would set /etc/rota to (0750, root:rota)");
    expect(out.stdout).toContain("would set /var/lib/rota to (0700, rota:rota)");
    expect(out.stdout).not.toContain("would create /etc/rota");
    expect(out.stdout).toContain("would write /etc/rota/rota.toml.example (0640, root:rota)");
    expect(out.stdout).not.toContain("would run systemctl stop");
    expect(out.stdout).toContain("would write /etc/systemd/system/rota.service (0644, root:root)");
    // The real run: no stop either, as there was no unit to stop.
    const real = await install(r);
    expect(real.code).toBe(0);
    expect(r.callsOf("systemctl")).toEqual(["systemctl daemon-reload", "systemctl enable rota", "systemctl start rota"]);
  });

  test("--purge --user rota deletes the user rota, as --help says; another --user is kept (below)", async () => {
    const r = fresh();
    expect((await install(r, ["--user", "rota", "--no-service"])).code).toBe(0);
    const help = await install(r, ["--help"]);
    expect(help.stdout).toContain("and the user named rota (the default, or\n                          --user rota)");
    expect(help.stdout).toContain("any other user (--user nobody) and its files are kept");
    expect(help.stdout).not.toContain("A user named with --user is kept");
    const purged = await install(r, ["--uninstall", "--purge", "--yes", "--user", "rota"]);
    expect(purged.code).toBe(0);
    expect(r.callsOf("userdel")).toEqual(["userdel rota"]);
    expect(purged.stdout).toContain("the user rota.");
  });

  test("--help lists the options, ROTA_BASE_URL and the exit codes", async () => {
    const out = await install(fresh(), ["--help"]);
    expect(out.code).toBe(0);
    for (const option of ["--version X", "--prefix DIR", "--user NAME", "--no-service", "--dsm-volume /volumeN", "--dry-run", "--uninstall", "--purge", "--yes"]) expect(out.stdout).toContain(`  ${option} `);
    expect(out.stdout).toContain("ROTA_BASE_URL   where the release is");
    expect(out.stdout).toContain("(a placeholder: this build names no release location, so ROTA_BASE_URL is required)");
    expect(out.stdout).toContain("exit codes:\n  0  done (also --dry-run)\n  1  failure");
    expect(out.stdout).toContain("  3  the download was refused");
  });

  describe("the service user", () => {
    test("busybox adduser: the group rota first, then the user in it", async () => {
      const r = fresh();
      rmSync(r.path("/shim/useradd"));
      const out = await install(r, ["--no-service"], "ash");
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      expect(r.callsOf("addgroup")).toEqual(["addgroup -S rota"]);
      expect(r.callsOf("adduser")).toEqual(["adduser -S -D -H -G rota -s /sbin/nologin rota"]);
      expect(r.stat("/etc/rota")).toEqual({ mode: 0o750, owner: "root", group: "rota" });
      expect(r.stat("/var/lib/rota")).toEqual({ mode: 0o700, owner: "rota", group: "rota" });
    });

    test("--user nobody: its primary group nogroup, in the folders and the unit", async () => {
      const r = fresh();
      r.write("/etc/passwd", `${r.read("/etc/passwd")}nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
      r.write("/etc/group", `${r.read("/etc/group")}nogroup:x:65534:\n`);
      const out = await install(r, ["--user", "nobody"]);
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      expect(r.callsOf("useradd")).toEqual([]);
      expect(r.stat("/etc/rota")).toEqual({ mode: 0o750, owner: "root", group: "nogroup" });
      expect(r.stat("/var/lib/rota")).toEqual({ mode: 0o700, owner: "nobody", group: "nogroup" });
      expect(r.stat("/etc/rota/rota.toml")).toEqual({ mode: 0o640, owner: "root", group: "nogroup" });
      expect(r.read("/etc/systemd/system/rota.service")).toContain("User=nobody\nGroup=nogroup\n");

      // A user that was there before rota is not rota's to delete, nor are its files to give away.
      r.write("/etc/ssl/rota/web/privkey.pem", "key", 0o600);
      chownSync(r.path("/etc/ssl/rota/web/privkey.pem"), 65534, 65534);
      const purged = await install(r, ["--user", "nobody", "--uninstall", "--purge", "--yes"]);
      expect(purged.code).toBe(0);
      expect(r.callsOf("userdel")).toEqual([]);
      expect(r.read("/etc/passwd")).toContain("nobody:x:65534:");
      expect(r.stat("/etc/ssl/rota/web/privkey.pem")).toEqual({ mode: 0o600, owner: "nobody", group: "nogroup" });
      expect(r.exists("/var/lib/rota")).toBe(false);
      expect(purged.stdout).toContain("rota is removed: /etc/systemd/system/rota.service, /usr/local/bin/rota, /etc/rota, /var/lib/rota. Kept: the user nobody, which rota's installer does not make under that name.\n");
    });

    test("a chown that fails half-way: exit 1 naming it, the folders and the user this run made removed", async () => {
      const r = fresh();
      r.write("/shim/chown", '#!/bin/sh\nfor last; do :; done\nif [ "$last" = /var/lib/rota ]; then echo "chown: /var/lib/rota: Operation not permitted" >&2; exit 1; fi\nexec /bin/busybox chown "$@"\n', 0o755);
      const out = await install(r);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain("install.sh: cannot give /var/lib/rota to rota:rota\n");
      expect(out.stderr).toContain("install.sh: the install stopped there; this run removed the folders it created and the user rota and changed nothing else\n");
      for (const p of ["/etc/rota", "/var/lib", "/usr/local/bin/rota", "/etc/systemd/system/rota.service"]) expect(r.exists(p)).toBe(false);
      expect(r.read("/etc/passwd")).not.toContain("rota:");
      expect(r.callsOf("systemctl")).toEqual([]);
    });
  });

  test("TMPDIR on a noexec mount: exit 1 saying so and what to set, not that rota does not run here", async () => {
    const r = fresh({ noexecTmp: true });
    const before = r.treeHash();
    const out = await install(r, ["--no-service"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("install.sh: cannot run programs in /tmp (mounted noexec?): set TMPDIR to a folder that allows it, e.g. TMPDIR=/var/tmp; nothing was installed");
    expect(out.stderr).not.toContain("does not run here");
    expect(r.treeHash()).toBe(before);
    mkdirSync(r.path("/var/tmp"), { recursive: true, mode: 0o1777 });
    const again = await install(r, ["--no-service"], "dash", { TMPDIR: "/var/tmp" });
    expect(again.code).toBe(0);
  });

  describe("Synology DSM", () => {
    test("DSM 7: the volume layout, the boot script started, the Task Scheduler steps, no systemctl", async () => {
      const r = fresh({ dsmMajor: 7 });
      const out = await install(r);
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      expect(r.stat("/volume1/@rota/bin/rota").mode).toBe(0o755);
      expect(r.stat("/volume1/@rota/rota-boot.sh").mode).toBe(0o755);
      expect(r.stat("/volume1/@rota/state")).toEqual({ mode: 0o700, owner: "root", group: "root" });
      expect(r.exists("/volume1/@rota/log/rota.log")).toBe(true);
      const config = r.read("/volume1/@rota/etc/rota.toml");
      expect(config).toContain('state_dir = "/volume1/@rota/state"');
      expect(config).toContain('dir = "/volume1/@rota/certs"');
      expect(config).not.toContain("/var/lib/rota");
      expect(r.exec(["/bin/busybox", "readlink", "/usr/local/bin/rota"]).stdout.trim()).toBe("/volume1/@rota/bin/rota");
      expect(out.stdout).toContain("Control Panel → Task Scheduler → Create → Triggered Task → User-defined script.");
      expect(out.stdout).toContain('General: task "rota", user "root", event "Boot-up".');
      expect(out.stdout).toContain("/volume1/@rota/rota-boot.sh start");
      expect(r.callsOf("systemctl")).toEqual([]);
      expect(r.callsOf("useradd")).toEqual([]);
      expect(r.exec(["/volume1/@rota/rota-boot.sh", "status"]).code).toBe(0);
      expect(r.exec(["/usr/local/bin/rota", "status", "--config", "/volume1/@rota/etc/rota.toml"]).code).toBe(0);

      // A crash: the loop starts the daemon again after 10 s, moving a log past 10 MiB aside first.
      const loop = Number(r.read("/run/rota/rota.pid").trim());
      const daemonPid = () => Bun.spawnSync(["pgrep", "-P", String(loop), "-f", "rota daemon --config"], { stdout: "pipe" }).stdout.toString().trim().split("\n").filter(Boolean).map(Number);
      const [first] = daemonPid();
      expect(first).toBeGreaterThan(0);
      r.write("/volume1/@rota/log/rota.log", `${r.read("/volume1/@rota/log/rota.log")}${"x".repeat(10 * 1024 * 1024)}\n`);
      process.kill(first!, "SIGKILL");
      await waitFor(() => r.exec(["/usr/local/bin/rota", "status", "--config", "/volume1/@rota/etc/rota.toml"]).code === 0 && daemonPid().some((p) => p !== first), 25_000, 200, "the daemon restarted by the loop");
      expect(r.read("/volume1/@rota/log/rota.log").length).toBeLessThan(1024 * 1024);
      expect(r.read("/volume1/@rota/log/rota.log.1")).toContain("the daemon exited with 137; restarting in 10s");
      const stopped = r.exec(["/volume1/@rota/rota-boot.sh", "stop"]);
      expect(stopped.stdout).toContain("rota stopped");
      expect(r.exec(["/volume1/@rota/rota-boot.sh", "status"]).code).toBe(3);
    });

    test("DSM 6: exit 2", async () => {
      const out = await install(fresh({ dsmMajor: 6 }));
      expect(out.code).toBe(2);
      expect(out.stderr).toContain("DSM 6 is not supported");
    });
  });

  describe("ROTA_BASE_URL", () => {
    for (const [name, url] of [["a folder", "/srv/release"], ["a file:// URL", "file:///srv/release"]] as const) {
      test(`as ${name}`, async () => {
        const r = fresh();
        mkdirSync(r.path("/srv/release"), { recursive: true });
        for (const [file, bytes] of files) r.write(`/srv/release/${file}`, bytes);
        r.write("/srv/release/SHA256SUMS", computeSums());
        const out = await install(r, ["--no-service"], "dash", { ROTA_BASE_URL: url });
        expect(out.code).toBe(0);
        expect(requests).toEqual([]);
        expect(readFileSync(r.path("/usr/local/bin/rota")).equals(readFileSync(ROTA_BIN))).toBe(true);
      });
    }

    test("unset, with the placeholder a build without --base-url leaves: exit 2, nothing fetched or written", async () => {
      const r = fresh();
      const before = r.treeHash();
      const out = await install(r, [], "dash", { ROTA_BASE_URL: "" });
      expect(out.code).toBe(2);
      expect(out.stderr).toContain("this install.sh names no release location (a build without --base-url): set ROTA_BASE_URL");
      expect(requests).toEqual([]);
      expect(r.treeHash()).toBe(before);
    });
  });
});
