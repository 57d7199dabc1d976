/**
 * End to end: faults of the renewal workers, on pebble with the webserver frozen so every
 * renewal waits on validation with its challenge published. A worker SIGKILLed, one that
 * writes garbage and dies, one SIGSTOPped past the deadline, a daemon SIGKILLed with four
 * busy workers, a daemon stopped while its workers write their challenges: the renewals
 * hit end interrupted or failed with a clear reason, no challenge survives, the others are
 * unaffected and the pool serves the next renewal.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, watch } from "node:fs";
import { join } from "node:path";
import { runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, challengeFiles, waitForRenewal } from "./helpers.ts";

let world: World;
let daemon: Daemon | undefined;
let config: string;

beforeAll(async () => {
  world = await startWorld();
});

afterEach(async () => {
  await world.nginx.thaw();
  await daemon?.stop();
  daemon = undefined;
});

afterAll(async () => {
  await world?.stop();
});

/** The daemon's renewal workers now. */
async function workers(d: Daemon): Promise<number[]> {
  const rota = await d.server.childPid();
  const out = Bun.spawnSync(["pgrep", "-P", String(rota), "-f", "__renewal"], { stdout: "pipe" }).stdout.toString();
  return out.split("\n").filter(Boolean).map(Number);
}

const alive = (pid: number) => Bun.spawnSync(["kill", "-0", String(pid)], { stderr: "ignore" }).exitCode === 0;

/** Starts the daemon on fresh certs `ids` with nginx frozen; resolves once each has a challenge published and its own worker. */
async function startHung(ids: string[], daemonKeys: Record<string, number> = {}): Promise<number[]> {
  // A file left by an earlier test would count as one of these renewals' challenges.
  expect(challengeFiles(world.webroot)).toEqual([]);
  config = world.writeConfig({ daemon: daemonKeys, certs: ids.map((id) => ({ id, domains: [`${id}.example.test`] })) });
  await world.nginx.freeze();
  daemon = startDaemon(config, { env: world.env });
  await waitFor(() => challengeFiles(world.webroot).length >= ids.length || null, 30_000, 20, "a challenge per cert");
  return waitFor(async () => {
    const pids = await workers(daemon!);
    return pids.length === ids.length ? pids : null;
  }, 10_000, 20, "a worker per renewal");
}

/**
 * Writes `text` on the worker's stdout, the socket to the daemon, through a copy of its
 * descriptor (pidfd_getfd, syscall 438; allowed to an ancestor): as if the worker wrote it.
 */
function writeAsWorker(pid: number, text: string): void {
  const script = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(438, os.pidfd_open(int(sys.argv[1])), 1, 0)
if fd < 0: sys.exit(os.strerror(ctypes.get_errno()))
os.write(fd, sys.stdin.buffer.read())`;
  const r = Bun.spawnSync(["python3", "-c", script, String(pid)], { stdin: new TextEncoder().encode(text), stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`cannot write as the worker: ${r.stderr.toString()}`);
}

const journalEmpty = () => !existsSync(join(world.stateDir, "journal")) || readdirSync(join(world.stateDir, "journal")).length === 0;

/** The one row of `ids` that is not running, once there is one. */
async function ended(ids: string[]) {
  return waitFor(async () => {
    for (const id of ids) {
      const row = (await audit(world.socket, id))[0];
      if (row && row.status !== "running") return row;
    }
    return null;
  }, 15_000, 50, "a renewal to end");
}

test("a worker SIGKILLed mid-renewal: its renewal fails saying so, its challenge goes at once, the other three succeed, the pool renews again", async () => {
  const ids = ["k1", "k2", "k3", "k4"];
  const [victim] = await startHung(ids);
  process.kill(victim!, "SIGKILL");
  const row = await ended(ids);
  expect(row.status).toBe("failed");
  expect(row.error).toBe("pipeline: the renewal process ended without an outcome (killed by SIGKILL)");
  await waitFor(() => challengeFiles(world.webroot).length === 3 || null, 10_000, 50, "the dead renewal's challenge to be removed");
  for (const id of ids.filter((x) => x !== row.cert_id)) expect((await audit(world.socket, id))[0]!.status).toBe("running");

  await world.nginx.thaw();
  for (const id of ids.filter((x) => x !== row.cert_id)) await waitForRenewal(world.socket, id, (r) => r.status === "succeeded");
  const again = await runRota(["renew", row.cert_id, "--force", "--wait", "--socket", world.socket], { timeoutMs: 30_000 });
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("succeeded");
  expect(journalEmpty()).toBe(true);
  expect((await workers(daemon!)).length).toBeLessThanOrEqual(4);
});

test("a worker that writes garbage on its stdout and dies: its renewal fails naming both, the others are unaffected", async () => {
  const ids = ["g1", "g2"];
  const [victim] = await startHung(ids);
  writeAsWorker(victim!, "\u0000not a line of the protocol {\n");
  process.kill(victim!, "SIGKILL");
  const row = await ended(ids);
  expect(row.status).toBe("failed");
  expect(row.error).toBe("pipeline: the renewal process ended without an outcome (killed by SIGKILL; it wrote 1 unreadable line(s))");
  await waitFor(() => challengeFiles(world.webroot).length === 1 || null, 10_000, 50, "the dead renewal's challenge to be removed");
  await world.nginx.thaw();
  await waitForRenewal(world.socket, ids.find((x) => x !== row.cert_id)!, (r) => r.status === "succeeded");
  expect(daemon!.output()).toContain("wrote an unreadable line");
});

test("the daemon SIGKILLed with four busy workers: each removes its challenge and exits; the next start finds nothing to clean", async () => {
  const ids = ["d1", "d2", "d3", "d4"];
  const pids = await startHung(ids);
  await daemon!.signal("SIGKILL");
  await waitFor(() => challengeFiles(world.webroot).length === 0 || null, 10_000, 50, "the orphaned workers to clean up");
  await waitFor(() => pids.every((p) => !alive(p)) || null, 10_000, 50, "the orphaned workers to exit");
  expect(journalEmpty()).toBe(true);
  await daemon!.server.exited;
  daemon = undefined;

  await world.nginx.thaw();
  daemon = startDaemon(config, { env: world.env });
  await daemon.waitForOutput("listening on");
  expect(daemon.output()).not.toContain("left by an earlier run");
  for (const id of ids) {
    const first = (await audit(world.socket, id)).at(-1)!;
    expect(first.status).toBe("interrupted");
  }
});

// A publish cut short by the stop left its write running; the file used to land after the
// renewal had removed it and forgotten its journal entry, so nothing ever removed it.
test("the daemon stopped while its workers write their challenges: none is left behind", async () => {
  const journal = join(world.stateDir, "journal");
  mkdirSync(journal, { recursive: true, mode: 0o700 });
  // The stop lands mid-write only now and then: a few rounds, each stopped as soon as a challenge is journaled (right before its publish).
  for (let round = 0; round < 6; round++) {
    const ids = [`w${round}a`, `w${round}b`];
    config = world.writeConfig({ certs: ids.map((id) => ({ id, domains: [`${id}.example.test`] })) });
    const journaled = nextJournaled(journal);
    daemon = startDaemon(config, { env: world.env });
    await journaled;
    expect(await daemon.stop()).toBe(0);
    daemon = undefined;
    expect(challengeFiles(world.webroot)).toEqual([]);
    expect(journalEmpty()).toBe(true);
  }
}, 150_000);

/** Resolves when a renewal's challenges are next journaled in `dir`. */
function nextJournaled(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`no challenge journaled in ${dir} within 30 s`));
    }, 30_000);
    const watcher = watch(dir, (_, name) => {
      if (!name?.endsWith(".json")) return;
      clearTimeout(timer);
      watcher.close();
      resolve();
    });
  });
}

test("a SIGSTOPped worker: its renewal is aborted at the deadline, the worker killed and replaced, its challenge removed; the other renewal is unaffected", async () => {
  const ids = ["s1", "s2"];
  const [victim] = await startHung(ids, { renewal_timeout_seconds: 60 });
  process.kill(victim!, "SIGSTOP");
  await world.nginx.thaw();
  const row = await waitFor(async () => {
    for (const id of ids) {
      const r = (await audit(world.socket, id))[0];
      if (r?.status === "succeeded") return ids.find((x) => x !== id)!;
    }
    return null;
  }, 30_000, 100, "the other renewal to succeed");
  const stopped = await waitForRenewal(world.socket, row, (r) => r.status !== "running", 100_000);
  expect(stopped.status).toBe("failed");
  // The challenge file is on disk before its step ends: a worker stopped in that gap is in publish.
  expect(stopped.error).toMatch(/^timed out after 60 s in step (publish|await_issuance|preflight|propagate)$/);
  expect(alive(victim!)).toBe(false);
  await waitFor(() => challengeFiles(world.webroot).length === 0 || null, 30_000, 50, "the stopped renewal's challenge to be removed");
  expect(daemon!.output()).toContain(`renewal process ${victim} did not end renewal`);
  const again = await runRota(["renew", row, "--force", "--wait", "--socket", world.socket], { timeoutMs: 30_000 });
  expect(again.code).toBe(0);
}, 150_000);
