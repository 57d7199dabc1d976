/**
 * End to end: renewals cut short. With the webserver frozen, validation hangs while a
 * challenge is published; `renew --wait` streams steps as they happen; SIGTERM cleans up
 * within 5 s; SIGKILL leaves the clean-up to the next start.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { ROTA_BIN, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, challengeFiles, fileExists, waitForRenewal } from "./helpers.ts";

let world: World;
let config: string;
let daemon: Daemon | undefined;

beforeAll(async () => {
  world = await startWorld();
  config = world.writeConfig();
});

afterEach(async () => {
  await world.nginx.thaw();
  await daemon?.stop();
  daemon = undefined;
});

afterAll(async () => {
  await world?.stop();
});

/** A config with one fresh cert `id`, so the daemon's startup tick renews it. */
function configFor(id: string): string {
  return world.writeConfig({ certs: [{ id, domains: [`${id}.example.test`] }] });
}

/** Starts the daemon with nginx frozen and waits until the startup renewal has a challenge published. */
async function startHung(id: string): Promise<string[]> {
  config = configFor(id);
  await world.nginx.freeze();
  daemon = startDaemon(config, { env: world.env });
  return waitFor(() => {
    const files = challengeFiles(world.webroot);
    return files.length > 0 ? files : null;
  }, 30_000, 20, "a published challenge");
}

test("renew --wait prints each step as it happens", async () => {
  daemon = startDaemon(config, { env: world.env });
  await waitForRenewal(world.socket, "www", (r) => r.status === "succeeded");
  await world.nginx.freeze();

  const proc = Bun.spawn([ROTA_BIN, "renew", "www", "--force", "--wait", "--socket", world.socket], { stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("publish")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  expect(out).toMatch(/publish\s+ok/);
  // The renewal is still waiting on validation: the lines came before it ended.
  const running = (await audit(world.socket, "www"))[0]!;
  expect(running.status).toBe("running");
  expect(running.finished_at).toBeNull();

  await world.nginx.thaw();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  expect(await proc.exited).toBe(0);
  for (const step of ["key", "csr", "submit", "preflight", "publish", "propagate", "await_issuance", "remove", "verify", "persist", "install"]) {
    expect(out).toContain(step);
  }
  expect(out).toContain("succeeded");
});

test("SIGTERM during validation removes the challenge, closes the row as interrupted, exits within 5 s", async () => {
  const files = await startHung("term");
  const started = Date.now();
  const code = await daemon!.stop("SIGTERM");
  const elapsed = Date.now() - started;
  daemon = undefined;
  expect(code).toBe(0);
  expect(elapsed).toBeLessThan(5_000);
  for (const f of files) expect(fileExists(join(world.webroot, ".well-known", "acme-challenge", f))).toBe(false);

  daemon = startDaemon(config, { env: world.env });
  await daemon.waitForOutput("listening on");
  const rows = await audit(world.socket, "term");
  const interrupted = rows.find((r) => r.status === "interrupted");
  expect(interrupted).toBeDefined();
  expect(interrupted!.error).toContain("daemon stopping");
  expect(interrupted!.events.find((e) => e.step === "remove")!.status).toBe("ok");
});

test("SIGKILL while a challenge is published: the next start removes it and marks the row interrupted", async () => {
  const files = await startHung("kill");
  const before = await audit(world.socket, "kill");
  const running = before.find((r) => r.status === "running")!;
  expect(running).toBeDefined();
  daemon!.kill();
  await daemon!.server.exited;
  daemon = undefined;
  // Nothing cleaned up: the file is still there and the journal holds it.
  for (const f of files) expect(fileExists(join(world.webroot, ".well-known", "acme-challenge", f))).toBe(true);
  expect(readdirSync(join(world.stateDir, "journal")).length).toBeGreaterThan(0);

  await world.nginx.thaw();
  daemon = startDaemon(config, { env: world.env });
  await daemon.waitForOutput("listening on");
  for (const f of files) expect(fileExists(join(world.webroot, ".well-known", "acme-challenge", f))).toBe(false);
  const after = await audit(world.socket, "kill");
  const row = after.find((r) => r.id === running.id)!;
  expect(row.status).toBe("interrupted");
  expect(row.finished_at).not.toBeNull();
  expect(daemon.output()).toContain("removed");
  await waitFor(() => !existsSync(join(world.stateDir, "journal")) || readdirSync(join(world.stateDir, "journal")).length === 0, 10_000, 50, "journal to empty");
});

test("SIGKILL of the daemon alone: its renewal process notices and removes the challenge itself", async () => {
  const files = await startHung("orphan");
  const rotaPid = await daemon!.server.childPid();
  const child = Number(Bun.spawnSync(["pgrep", "-P", String(rotaPid), "-f", "__renewal"], { stdout: "pipe" }).stdout.toString().trim());
  await daemon!.signal("SIGKILL");
  const challengeDir = join(world.webroot, ".well-known", "acme-challenge");
  await waitFor(() => files.every((f) => !fileExists(join(challengeDir, f))), 10_000, 50, "the orphaned renewal to clean up");
  await waitFor(() => Bun.spawnSync(["kill", "-0", String(child)]).exitCode !== 0, 10_000, 50, "the orphaned renewal to exit");
  // With nobody reading its output it finishes quietly: no broken-pipe crash report in the log.
  expect(daemon!.output()).not.toMatch(/EPIPE|Bun v\d/);
  await daemon!.server.exited;
  daemon = undefined;

  await world.nginx.thaw();
  daemon = startDaemon(config, { env: world.env });
  await daemon.waitForOutput("listening on");
  // Its events went to the dead daemon; the row is closed at the next start, and nothing was left journaled.
  const first = (await audit(world.socket, "orphan")).at(-1)!;
  expect(first.status).toBe("interrupted");
  expect(daemon.output()).not.toContain("left by an earlier run");
});

test("SIGTERM while the CA does not answer: the row is interrupted with the real reason", async () => {
  // Accepts connections and never says a word, like a CA behind a stuck proxy.
  const silent = createServer(() => {}).listen(0, "127.0.0.1");
  await new Promise((resolve) => silent.once("listening", resolve));
  const port = (silent.address() as AddressInfo).port;
  try {
    config = world.writeConfig({ directoryUrl: `https://127.0.0.1:${port}/dir`, certs: [{ id: "silent", domains: ["silent.example.test"] }] });
    daemon = startDaemon(config, { env: world.env });
    await waitFor(async () => (await audit(world.socket, "silent").catch(() => []))[0]?.status === "running", 10_000, 50, "a running renewal");
    await daemon.stop("SIGTERM");
    daemon = startDaemon(config, { env: world.env });
    await daemon.waitForOutput("listening on");
    const row = (await audit(world.socket, "silent")).at(-1)!;
    expect(row.status).toBe("interrupted");
    expect(row.error).toContain("cancelled");
    expect(row.error).not.toMatch(/undefined is not an object|TypeError/);
  } finally {
    silent.close();
  }
});

test("a renewal process killed outright: the daemon removes its challenge at once, not at the next tick", async () => {
  const files = await startHung("killedchild");
  const rotaPid = await daemon!.server.childPid();
  const child = Bun.spawnSync(["pgrep", "-P", String(rotaPid), "-f", "__renewal"], { stdout: "pipe" }).stdout.toString().trim();
  expect(child).toMatch(/^\d+$/);
  process.kill(Number(child), "SIGKILL");
  const challengeDir = join(world.webroot, ".well-known", "acme-challenge");
  // check_interval_seconds is an hour: only the end of the renewal can trigger this.
  await waitFor(() => files.every((f) => !fileExists(join(challengeDir, f))), 10_000, 50, "the dead renewal's challenge to be removed");
  await waitFor(() => readdirSync(join(world.stateDir, "journal")).length === 0, 10_000, 50, "the journal to empty");
  const row = (await audit(world.socket, "killedchild"))[0]!;
  expect(row.status).toBe("failed");
  expect(row.error).toContain("ended without an outcome");
});

test("the webroot moved while a challenge was published: a killed worker's and a killed daemon's challenges are removed from where they were published", async () => {
  const moved = join(world.dir, "webroot2");
  mkdirSync(moved, { recursive: true, mode: 0o755 });
  const challengeDir = join(world.webroot, ".well-known", "acme-challenge");
  const pathMoved = (file: string) => writeFileSync(file, readFileSync(file, "utf8").replace(`path = ${JSON.stringify(world.webroot)}`, `path = ${JSON.stringify(moved)}`));

  // Daemon alive: the path changes by a reload, then the worker holding the challenge is killed.
  const files = await startHung("movedworker");
  pathMoved(config);
  await daemon!.signal("SIGHUP");
  await daemon!.waitForOutput("reload: ");
  const rotaPid = await daemon!.server.childPid();
  const worker = Bun.spawnSync(["pgrep", "-P", String(rotaPid), "-f", "__renewal"], { stdout: "pipe" }).stdout.toString().trim();
  expect(worker).toMatch(/^\d+$/);
  process.kill(Number(worker), "SIGKILL");
  await waitFor(() => files.every((f) => !fileExists(join(challengeDir, f))) || null, 10_000, 50, "the dead worker's challenge removed from the old webroot");
  await waitFor(() => readdirSync(join(world.stateDir, "journal")).length === 0 || null, 10_000, 50, "the journal to empty");
  await daemon!.stop();
  daemon = undefined;

  // Daemon and workers killed; the path changes while nothing runs; the next start removes them from the old webroot and says how many.
  const left = await startHung("moveddaemon");
  daemon!.kill();
  await daemon!.server.exited;
  daemon = undefined;
  for (const f of left) expect(fileExists(join(challengeDir, f))).toBe(true);
  pathMoved(config);
  await world.nginx.thaw();
  daemon = startDaemon(config, { env: world.env });
  await daemon.waitForOutput("listening on");
  for (const f of left) expect(fileExists(join(challengeDir, f))).toBe(false);
  expect(daemon.output()).toContain(`removed ${left.length} challenge(s) left by an earlier run`);
  expect(readdirSync(moved)).toEqual([]);
});
