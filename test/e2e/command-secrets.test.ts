/**
 * End to end, on the local CA: the commands rota runs for a target do not inherit the
 * variables the config's `*_env` keys name, in any section (here a Cloudflare DCV no cert
 * uses), so a `post_install_command` printing `env` leaks no token into the daemon's log,
 * `rota audit`, the API or the SQLite files; it still gets its ROTA_* variables and PATH. A
 * token it reads some other way (the renewal process's /proc/<pid>/environ) is redacted from
 * what it prints, as is the private key it prints. A reload naming a new `*_env` variable
 * applies to the next renewal.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, type Daemon } from "../harness/index.ts";
import { audit, waitForRenewal } from "./helpers.ts";

const CANARY = "CANARY-cf-9931";
const LATER_CANARY = "CANARY-later-4417";

let dir: string;
let seen: string;
let socket: string;
let daemon: Daemon;

/**
 * The command: its whole environment to a file of its own (renamed into place: read whole),
 * then on its output, what it finds in the environment and in its parent's (the renewal
 * process's, which holds the daemon's environment); it fails so that all of it goes into the
 * step's message.
 */
const SCRIPT = `env > "$SEEN/.tmp.$$" && mv "$SEEN/.tmp.$$" "$SEEN/env-$(date +%s%N)"; env | grep -E '^(ROTA_CERT_ID|CF_)'; tr '\\0' '\\n' < /proc/$PPID/environ | grep '^CF_'; cat "$ROTA_CERT_DIR/privkey.pem"; exit 1`;

function config(extra = ""): string {
  return `[daemon]
state_dir = "state"
socket = "rota.sock"
check_interval_seconds = 1
failure_cooldown_seconds = 1
failure_cooldown_max_seconds = 2
worker_idle_seconds = 600

[[ca]]
name = "internal"
type = "local"

[[dcv]]
name = "cf"
type = "cloudflare"
api_token_env = "CF_API_TOKEN"
${extra}
[[install]]
name = "files"
type = "filesystem"
dir = "certs"
post_install_command = ["/bin/sh", "-c", ${JSON.stringify(SCRIPT)}]

[[cert]]
id = "app"
domains = ["app.home.arpa"]
ca = "internal"
install = ["files"]
`;
}

/** The environments the command saw, oldest first. */
function seenEnvs(): string[] {
  return readdirSync(seen)
    .filter((f) => f.startsWith("env-"))
    .sort()
    .map((f) => readFileSync(join(seen, f), "utf8"));
}

beforeAll(async () => {
  dir = makeTempDir("rota-cmd-secrets-");
  seen = join(dir, "seen");
  mkdirSync(seen);
  socket = join(dir, "rota.sock");
  writeFileSync(join(dir, "rota.toml"), config());
  daemon = startDaemon(join(dir, "rota.toml"), { cwd: dir, env: { CF_API_TOKEN: CANARY, CF_LATER_TOKEN: LATER_CANARY, SEEN: seen } });
  await daemon.waitForOutput("listening on");
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

test("a post_install_command printing env: the token is in no log line, audit row, API reply or SQLite file; ROTA_* and PATH are there", async () => {
  const failed = await waitForRenewal(socket, "app", (r) => r.status === "failed");
  // Its output did reach the message: the token's absence there means something.
  expect(failed.error).toContain("ROTA_CERT_ID=app");
  expect(failed.error).toContain("CF_API_TOKEN=[redacted]");
  // That one line, from /proc; none from `env`.
  expect(failed.error!.match(/CF_API_TOKEN/g)).toHaveLength(1);

  const envs = seenEnvs();
  expect(envs.length).toBeGreaterThan(0);
  for (const env of envs) {
    expect(env).not.toContain("CF_API_TOKEN");
    expect(env).not.toContain(CANARY);
    expect(env).toContain("ROTA_CERT_ID=app\n");
    expect(env).toContain("ROTA_DOMAINS=app.home.arpa\n");
    expect(env).toContain(`ROTA_CERT_DIR=${join(dir, "certs", "app")}\n`);
    expect(env).toMatch(/^ROTA_SERIAL=[0-9a-f]+$/m);
    expect(env).toContain(`PATH=${process.env.PATH}\n`);
    // Not named by any *_env key: the operator's environment otherwise reaches the command.
    expect(env).toContain(`CF_LATER_TOKEN=${LATER_CANARY}\n`);
  }

  // Forced and followed step by step: the CLI prints each step's message.
  const renew = await runRota(["renew", "app", "--force", "--wait", "--socket", socket], { timeoutMs: 60_000 });
  expect(renew.stdout + renew.stderr).toContain("CF_API_TOKEN=[redacted]");
  const cli = [renew, await runRota(["audit", "app", "--socket", socket]), await runRota(["audit", "app", "--json", "--limit", "50", "--socket", socket])];
  const rows = await audit(socket, "app");
  const paths = ["/api/renewals?limit=100", ...rows.flatMap((r) => [`/api/renewals/${r.id}`, `/api/renewals/${r.id}/events`]), "/api/certs/app", "/api/status"];
  const replies: string[] = [];
  for (const p of paths) {
    const res = await fetch(`http://rota${p}`, { unix: socket });
    expect([p, res.status]).toEqual([p, 200]);
    replies.push(await res.text());
  }
  expect(replies[0]).toContain("ROTA_CERT_ID=app");
  const db = join(dir, "state", "rota.db");
  const stored = [db, `${db}-wal`].filter(existsSync).map((f) => readFileSync(f).toString("latin1"));
  expect(stored.length).toBeGreaterThan(0);
  const places = { log: daemon.output(), cli: cli.map((r) => r.stdout + r.stderr).join("\n"), api: replies.join("\n"), store: stored.join("\n") };
  for (const [where, text] of Object.entries(places)) expect([where, text.includes(CANARY)]).toEqual([where, false]);
  // The private key it printed too: its body is nowhere either (a hook printing privkey.pem).
  expect(failed.error).toContain("[private key redacted]");
  const keyBody = readFileSync(join(dir, "certs", "app", "privkey.pem"), "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("-----"));
  expect(keyBody.length).toBeGreaterThan(0);
  for (const [where, text] of Object.entries(places)) for (const line of keyBody) expect([where, text.includes(line)]).toEqual([where, false]);
});

test("a reload naming another *_env variable withholds it from the next renewal's commands, in the worker already running too", async () => {
  for (const f of readdirSync(seen)) rmSync(join(seen, f));
  writeFileSync(join(dir, "rota.toml"), config(`\n[[dcv]]\nname = "cf-later"\ntype = "cloudflare"\napi_token_env = "CF_LATER_TOKEN"\n`));
  expect((await runRota(["reload", "--socket", socket])).code).toBe(0);
  const logFrom = daemon.output().length;
  const renew = await runRota(["renew", "app", "--force", "--wait", "--socket", socket], { timeoutMs: 60_000 });
  expect(renew.stdout + renew.stderr).toContain("CF_LATER_TOKEN=[redacted]");
  expect(renew.stdout + renew.stderr).not.toContain(LATER_CANARY);
  const envs = seenEnvs();
  expect(envs.length).toBeGreaterThan(0);
  for (const env of envs) {
    expect(env).not.toContain("CF_LATER_TOKEN");
    expect(env).not.toContain("CF_API_TOKEN");
    expect(env).toContain("ROTA_CERT_ID=app\n");
  }
  const [newest] = await audit(socket, "app");
  expect(newest!.error).toContain("CF_LATER_TOKEN=[redacted]");
  expect(newest!.error).not.toContain(LATER_CANARY);
  expect(daemon.output().slice(logFrom)).not.toContain(LATER_CANARY);
});
