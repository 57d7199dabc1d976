/**
 * End to end: nothing that hangs holds the daemon. An install target on a mount that never
 * answers (FUSE): the status API still answers, a forced renewal stuck writing to it is
 * aborted at renewal_timeout_seconds and fails naming its step, and SIGTERM still stops the
 * daemon within 5 s, killing a renewal process stuck on the mount and removing its socket.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, ROTA_BIN, runRota, startDaemon, startHangFs, waitFor, type Daemon, type HangFs } from "../harness/index.ts";
import { list, waitForRenewal } from "./helpers.ts";

let dir: string;
let socket: string;
let hang: HangFs;
let daemon: Daemon | undefined;

beforeAll(async () => {
  dir = makeTempDir("rota-hangs-");
  socket = join(dir, "rota.sock");
  hang = await startHangFs(join(dir, "nas"), dir, ["app"]);
  writeFileSync(
    join(dir, "rota.toml"),
    `[daemon]
state_dir = "state"
socket = "rota.sock"
check_interval_seconds = 1
renewal_timeout_seconds = 60

[[ca]]
name = "internal"
type = "local"

[[install]]
name = "nas"
type = "filesystem"
dir = "nas"

[[cert]]
id = "app"
domains = ["app.home.arpa"]
ca = "internal"
install = "nas"
`,
  );
  // Debug: the log names each renewal process's pid.
  daemon = startDaemon(join(dir, "rota.toml"), { args: ["daemon", "--config", join(dir, "rota.toml"), "--log-level", "debug"] });
  await daemon.waitForOutput("listening on");
});

afterAll(async () => {
  await daemon?.stop();
  await hang?.stop();
  removeTempDir(dir);
});

test("while the target's read-back hangs, rota status and rota list answer", async () => {
  const started = Date.now();
  const status = await runRota(["status", "--socket", socket], { timeoutMs: 10_000 });
  expect(status.code).toBe(0);
  expect(status.stdout).toContain("1 cert(s): 1 checking");
  expect((await list(socket))[0]).toMatchObject({ id: "app", status: "checking" });
  expect(Date.now() - started).toBeLessThan(8_000);
});

test("a renewal stuck on the target is aborted at its deadline, fails naming its step, and cools down", async () => {
  const r = await runRota(["renew", "app", "--force", "--socket", socket], { timeoutMs: 10_000 });
  expect(r.code).toBe(0);
  const id = r.stdout.match(/^renewal (\S+) started for app$/m)![1]!;

  // Asked again with --wait while it runs: it follows the running renewal; Ctrl-C stops following, not the renewal.
  const follow = Bun.spawn([ROTA_BIN, "renew", "app", "--wait", "--socket", socket], { stdout: "pipe", stderr: "pipe" });
  const reader = follow.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) out += new TextDecoder().decode((await reader.read()).value);
  expect(out).toBe(`app is already renewing; following renewal ${id}\n`);
  follow.kill("SIGINT");
  expect(await follow.exited).toBe(130);
  expect(await new Response(follow.stderr).text()).toBe(
    `\nrota: stopped following; renewal ${id} goes on in the daemon. Follow it again with rota renew app --wait, or see rota audit app\n`,
  );
  expect((await list(socket))[0]!.status).toBe("renewing");

  const row = await waitForRenewal(socket, "app", (x) => x.status === "failed", 100_000);
  expect(row.id).toBe(id);
  expect(row.error).toBe("timed out after 60 s in step install");
  // The step it was stuck in is in the row too, failed: the worker could not end it itself.
  expect(row.events.map((e) => e.step)).toEqual(["key", "csr", "submit", "preflight", "publish", "propagate", "await_issuance", "remove", "verify", "persist", "install"]);
  expect(row.events.at(-1)!.status).toBe("failed");
  const [cert] = await list(socket);
  expect(cert!.retry_at).not.toBeNull();
  expect(daemon!.output()).toContain("app: renewal");
}, 120_000);

/** Whether `pid` is a process that still runs (a zombie waits only to be reaped). */
function running(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

test("SIGTERM while a renewal is stuck on the target: the daemon exits within 5 s, its renewal process killed and its socket removed", async () => {
  const r = await runRota(["renew", "app", "--force", "--socket", socket], { timeoutMs: 10_000 });
  expect(r.code).toBe(0);
  const pid = await waitFor(
    () => {
      const pids = [...daemon!.output().matchAll(/renewal process (\d+) started/g)].map((m) => Number(m[1]));
      const last = pids.at(-1);
      // Blocked in the kernel on the mount: its SIGTERM handler cannot run.
      return last !== undefined && running(last) && readFileSync(`/proc/${last}/wchan`, "utf8") === "request_wait_answer" ? last : undefined;
    },
    30_000,
    50,
    "the renewal process to block on the mount",
  );

  const started = Date.now();
  const code = await daemon!.stop("SIGTERM");
  daemon = undefined;
  expect(code).toBe(0);
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(running(pid)).toBe(false);
  expect(existsSync(socket)).toBe(false);
}, 60_000);
