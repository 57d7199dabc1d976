/**
 * End to end: the `rota` CLI as a user drives it — exit codes, config errors without
 * stack traces, socket discovery — on the local CA, plus install targets converging on
 * the newest stored certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { makeTempDir, removeTempDir, ROTA_BIN, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, list, localCaConfig, read, serialOf, waitForFile, waitForRenewal } from "./helpers.ts";

let dir: string;
let socket: string;
let config: string;
let daemon: Daemon;

function localConfig(extra = ""): string {
  return localCaConfig({ installs: ["files", "mirror"], extra });
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

  test("version --json: version, the host's target, the commit built and the Bun runtime", async () => {
    const r = await runRota(["version", "--json"]);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as Record<string, string>;
    expect(Object.keys(v)).toEqual(["version", "target", "commit", "bun"]);
    expect(`rota ${v.version}\n`).toBe((await runRota(["version"])).stdout);
    expect(v.target).toMatch(/^linux-(x64|arm64)(-musl)?$/);
    expect(v.commit).toMatch(/^([0-9a-f]{12}(-dirty)?|unknown)$/);
    expect(v.bun).toBe(Bun.version);
  });

  test("a daemon that is not running is exit 3 with one line", async () => {
    for (const args of [["list"], ["cluster", "status"], ["cluster", "step-down"]]) {
      const r = await runRota([...args, "--socket", join(dir, "nobody.sock")]);
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("not reachable");
    }
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

  test("a threshold of at least half the local CA's lifetime is a warning on stderr, exit 0", async () => {
    const warned = join(dir, "long-threshold.toml");
    writeFileSync(warned, localCaConfig({ extra: "renew_threshold_days = 45" }).replace('type = "local"', 'type = "local"\nvalidity_days = 90'));
    const r = await runRota(["check-config", "--config", warned]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      "warning: cert[0].renew_threshold_days: renew_threshold_days = 45 (cert) is at least half of this certificate's 90.00-day lifetime, so it renews at every check; remove it to renew at ½ of the lifetime\n",
    );
    expect(r.stdout).toContain("OK (1 cert(s)");
  });

  test("an unset *_env variable: a problem by default (exit 2); with --allow-unset-env a warning, exit 0, while other problems still refuse", async () => {
    const withEnv = join(dir, "token-env.toml");
    writeFileSync(withEnv, `${localCaConfig()}\n[http]\nlisten = "127.0.0.1:8844"\ntoken_env = "ROTA_TEST_UNSET_TOKEN"\n`);
    const env = { ROTA_TEST_UNSET_TOKEN: undefined };
    const strict = await runRota(["check-config", "--config", withEnv], { env });
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain("http.token_env: environment variable ROTA_TEST_UNSET_TOKEN is not set\n");
    const allowed = await runRota(["check-config", "--allow-unset-env", "--config", withEnv], { env });
    expect(allowed.stderr).toBe("warning: http.token_env: environment variable ROTA_TEST_UNSET_TOKEN is not set here; the service's environment must set it\n");
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain("OK (1 cert(s)");
    writeFileSync(withEnv, `${localCaConfig()}\n[http]\nlisten = "127.0.0.1:8844"\ntoken_env = "ROTA_TEST_UNSET_TOKEN"\nsurprise = 1\n`);
    const broken = await runRota(["check-config", "--allow-unset-env", "--config", withEnv], { env });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("http.surprise");
    expect(broken.stderr).not.toContain("http.token_env");
  });

  test("a good config checks OK", async () => {
    const r = await runRota(["check-config", "--config", config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("OK (1 cert(s)");
  });

  test.each([
    [["list", "--bogus"], 'rota: unknown option --bogus for "rota list" (see rota list --help)'],
    [["daemon", "extra-arg", "--config", "x.toml"], 'rota: unexpected argument "extra-arg" for "rota daemon" (see rota daemon --help)'],
    [["daemon", "--config"], 'rota: option --config for "rota daemon" needs a value (see rota daemon --help)'],
    [["list", "--socket", ""], 'rota: option --socket for "rota list" needs a non-empty value (see rota list --help)'],
    [["renew", "app", "--forse"], 'rota: unknown option --forse for "rota renew" (see rota renew --help)'],
    [["audit", "--limit", "99999999999"], 'rota: --limit must be a whole number from 1 to 1000, not "99999999999"'],
    [["audit", "--limit", "-1"], 'rota: --limit must be a whole number from 1 to 1000, not "-1"'],
    [["help", "frobnicate"], 'rota: unknown command "frobnicate" (see rota --help)'],
    [["cluster"], "rota: No command specified. (see rota cluster --help)"],
    [["dsm"], "rota: No command specified. (see rota dsm --help)"],
  ])("%j is a usage error: exit 2 and one line", async (args, line) => {
    const r = await runRota(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
  });

  test("--help works on every command, and --version on rota", async () => {
    for (const args of [["--help"], ["list", "--help"], ["renew", "-h"], ["daemon", "--config", "--help"]]) {
      const r = await runRota(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("USAGE");
    }
    expect((await runRota(["--version"])).stdout).toMatch(/^rota \d+\.\d+\.\d+\n$/);
  });

  test("rota help [COMMAND] prints what --help prints, with no colour codes off a terminal", async () => {
    for (const [help, dashHelp] of [
      [["help"], ["--help"]],
      [["help", "list"], ["list", "--help"]],
      [["help", "daemon"], ["daemon", "-h"]],
    ]) {
      const a = await runRota(help!);
      const b = await runRota(dashHelp!);
      expect(a.code).toBe(0);
      expect(a.stdout).toContain("USAGE");
      expect(a.stdout).toBe(b.stdout);
      expect(a.stdout).not.toContain("\u001b");
    }
    expect((await runRota(["help"])).stdout).toContain("help    Show the usage of rota or of one command");
  });

  test("on a terminal, help has colours unless NO_COLOR is set", () => {
    // script(1) gives rota a pseudo-terminal for stdout. CI=true turns colours off too (citty's colour check).
    const onTerminal = (env: Record<string, string | undefined>) =>
      Bun.spawnSync(["script", "-qec", `${ROTA_BIN} --help`, "/dev/null"], { env: { ...process.env, NO_COLOR: undefined, CI: undefined, ...env }, stdout: "pipe" }).stdout.toString();
    expect(onTerminal({})).toContain("\u001b[");
    expect(onTerminal({ NO_COLOR: "yes" })).toContain("USAGE");
    expect(onTerminal({ NO_COLOR: "yes" })).not.toContain("\u001b");
  });

  test("a path that is no live socket is exit 3, with the reason in plain words", async () => {
    const file = join(dir, "file.sock");
    const folder = join(dir, "folder.sock");
    const stale = join(dir, "stale.sock");
    writeFileSync(file, "");
    mkdirSync(folder);
    // A server killed with SIGKILL leaves its socket file behind, as a crashed daemon would.
    const child = Bun.spawn([process.execPath, "-e", `require("node:net").createServer().listen(${JSON.stringify(stale)})`]);
    await waitFor(() => existsSync(stale), 10_000, 10, "the socket to appear");
    child.kill("SIGKILL");
    await child.exited;
    for (const [socket, why] of [
      [join(dir, "nobody.sock"), "no socket there"],
      [file, "not a socket"],
      [folder, "not a socket but a folder"],
      [stale, "nothing is listening (a stale socket)"],
    ] as const) {
      const r = await runRota(["status", "--socket", socket]);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`rota: the daemon is not reachable at ${socket}: ${why}; is \`rota daemon\` running? (a daemon elsewhere: --config FILE or --socket PATH)\n`);
    }
  });

  describe("against a stand-in daemon", () => {
    let fake: Server;
    const fakeSocket = () => join(dir, "fake.sock");

    beforeAll(async () => {
      // Raw HTTP, so the event stream can be cut off mid-way the way a dying daemon cuts it.
      fake = createServer((conn: Socket) => {
        conn.once("data", (req) => {
          const [method, target = ""] = req.toString().split(" ");
          const path = target.split("?")[0];
          if (method === "POST" && path === "/api/certs/app/renew") {
            const body = JSON.stringify({ status: "started", renewal_id: "r1" });
            conn.end(`HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
          } else if (path === "/api/renewals/r1/events") {
            const step = `event: step\ndata: ${JSON.stringify({ step: "key", at: new Date().toISOString(), status: "ok", message: "reused key", duration_ms: 1 })}\n\n`;
            conn.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${step.length.toString(16)}\r\n${step}\r\n`);
            setTimeout(() => conn.destroy(), 100);
          } else {
            const body = JSON.stringify({ error: "limit must be an integer from 1 to 1000" });
            conn.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
          }
        });
      });
      await new Promise<void>((resolve) => fake.listen(fakeSocket(), resolve));
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => fake.close(() => resolve()));
    });

    test("renew --wait that loses the daemon mid-renewal says so in one line, exit 1", async () => {
      const r = await runRota(["renew", "app", "--force", "--wait", "--socket", fakeSocket()]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("key             ok");
      expect(r.stderr).toBe("rota: lost the daemon while following renewal r1 (did it stop?); see `rota audit app`\n");
    });

    test("a 400 from the daemon is a usage error with its text", async () => {
      const r = await runRota(["audit", "--socket", fakeSocket()]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe("rota: the daemon refused the request: limit must be an integer from 1 to 1000\n");
    });
  });
});

describe("with a daemon", () => {
  test("its log off a terminal: one line per event, time, level, component, message, no glyphs", async () => {
    await daemon.waitForOutput(/ info  runner cert=app renewal=\S+ app: renewed, serial /);
    const lines = daemon.output().split("\n");
    expect(lines.pop()).toBe("");
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) [a-z:]+ [ -~]+$/);
    expect(lines.find((l) => l.includes("listening on"))).toMatch(/^\S+ info  daemon rota \d+\.\d+\.\d+ listening on /);
  });

  test("the socket is found through --config, ROTA_CONFIG and ROTA_SOCKET", async () => {
    expect((await runRota(["status", "--config", config])).code).toBe(0);
    expect((await runRota(["status"], { env: { ROTA_CONFIG: config } })).code).toBe(0);
    expect((await runRota(["list"], { env: { ROTA_SOCKET: socket, ROTA_CONFIG: undefined } })).code).toBe(0);
  });

  test.skipIf(process.getuid?.() !== 0)("a socket the user may not open is exit 3, permission denied", async () => {
    // The daemon runs as root and its socket is 0600; `nobody` gets EACCES.
    const p = Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ROTA_BIN, "status", "--socket", socket], { stdout: "pipe", stderr: "pipe" });
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(3);
    expect(stderr).toBe(`rota: the daemon is not reachable at ${socket}: permission denied; run this as the user that runs \`rota daemon\` (a daemon elsewhere: --config FILE or --socket PATH)\n`);
  });

  test("cluster mode off: rota cluster status says so (exit 0), step-down is a usage error (exit 2; with --json the error body on stdout), rota status has no cluster line", async () => {
    const st = await runRota(["cluster", "status", "--socket", socket]);
    expect([st.code, st.stdout, st.stderr]).toEqual([0, "cluster mode is off\n", ""]);
    const json = await runRota(["cluster", "status", "--json", "--socket", socket]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ enabled: false, node_id: null, role: null, term: null, leader: null, lock_ttl_seconds: null, database: null, nodes: [], recent_events: [] });
    const down = await runRota(["cluster", "step-down", "--socket", socket]);
    expect([down.code, down.stdout, down.stderr]).toEqual([2, "", "rota: the daemon refused the request: cluster mode is off ([cluster] enabled = false)\n"]);
    const downJson = await runRota(["cluster", "step-down", "--json", "--socket", socket]);
    expect([downJson.code, JSON.parse(downJson.stdout), downJson.stderr]).toEqual([2, { error: "cluster mode is off ([cluster] enabled = false)" }, ""]);
    const status = await runRota(["status", "--socket", socket]);
    expect(status.code).toBe(0);
    expect(status.stdout).not.toContain("cluster");
    expect(JSON.parse((await runRota(["status", "--json", "--socket", socket])).stdout).cluster).toBeNull();
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
    // The files are in place before the run's row is closed: wait for the row.
    const fix = await waitFor(
      async () => (await audit(socket, "app")).find((r) => Date.parse(r.started_at) > Date.parse(failed!.started_at) && r.status === "succeeded") ?? null,
      15_000,
      50,
      "the re-install's row to close",
    );
    expect(fix.events.map((e) => e.step)).toEqual(["key", "verify", "install"]);
    expect(fix.events.find((e) => e.step === "install")!.message).toBe("installed on mirror");
    expect((await list(socket))[0]!.status).toBe("ok");
    expect(read(join(mirrorDir, "privkey.pem"))).toBe(read(join(dir, "certs", "app", "privkey.pem")));
  });
});
