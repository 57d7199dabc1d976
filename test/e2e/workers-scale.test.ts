/**
 * End to end on the local CA: 200 certs issue through workers recycled every 20 renewals;
 * idle workers exit, so the daemon returns to one process; a reload that changes the CA
 * section recycles the worker that loaded it, and the next renewal runs on a fresh one.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { list } from "./helpers.ts";

const N = 200;
let dir: string;
let daemon: Daemon | undefined;

beforeAll(() => {
  dir = makeTempDir("rota-workers-");
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

function writeConfig(commonName: string, idleSeconds: number): string {
  const certs = Array.from({ length: N }, (_, i) => `[[cert]]\nid = "c${i}"\ndomains = ["c${i}.home.arpa"]\nca = "internal"\ninstall = "files"\n`).join("\n");
  const file = join(dir, "rota.toml");
  writeFileSync(
    file,
    `[daemon]\nstate_dir = "state"\nsocket = "rota.sock"\nmax_concurrent_renewals = 4\nworker_max_renewals = 20\nworker_idle_seconds = ${idleSeconds}\n\n[[ca]]\nname = "internal"\ntype = "local"\ncommon_name = "${commonName}"\n\n[[install]]\nname = "files"\ntype = "filesystem"\ndir = "certs"\n\n${certs}`,
  );
  return file;
}

async function workers(d: Daemon): Promise<number[]> {
  const rota = await d.server.childPid();
  const out = Bun.spawnSync(["pgrep", "-P", String(rota), "-f", "__renewal"], { stdout: "pipe" }).stdout.toString();
  return out.split("\n").filter(Boolean).map(Number);
}

test(`${N} local-CA certs issue with workers recycled every 20 renewals; idle, the daemon is alone again`, async () => {
  const file = writeConfig("rota test CA", 1);
  daemon = startDaemon(file, { args: ["daemon", "--config", file, "--log-level", "debug"] });
  await waitFor(() => Array.from({ length: N }, (_, i) => join(dir, "certs", `c${i}`, "cert.pem")).every(existsSync) || null, 120_000, 100, "every cert installed");
  const socket = join(dir, "rota.sock");
  await waitFor(async () => (await list(socket)).every((c) => c.last_renewal?.status === "succeeded") || null, 30_000, 200, "every renewal to close");

  const log = daemon.output();
  const started = [...log.matchAll(/renewal process (\d+) started/g)].length;
  const recycled = [...log.matchAll(/renewal process \d+ retired: it ran 20 renewals/g)].length;
  // Each worker runs 20 renewals then goes: at least N / 20 of them, never more than one per renewal slot at a time.
  expect(recycled).toBeGreaterThanOrEqual(N / 20 - 4);
  expect(started).toBeGreaterThanOrEqual(N / 20);
  expect(started).toBeLessThan(N / 4);
  await waitFor(async () => ((await workers(daemon!)).length === 0) || null, 10_000, 100, "idle workers to exit");
}, 180_000);

test("a reload that changes the CA section recycles the worker that loaded it", async () => {
  const socket = join(dir, "rota.sock");
  writeConfig("rota test CA", 600);
  expect((await runRota(["reload", "--socket", socket])).code).toBe(0);
  expect((await runRota(["renew", "c0", "--force", "--wait", "--socket", socket], { timeoutMs: 30_000 })).code).toBe(0);
  const [pid] = await workers(daemon!);
  expect(pid).toBeDefined();
  writeConfig("rota test CA, renamed", 600);
  await daemon!.signal("SIGHUP");
  await daemon!.waitForOutput(`renewal process ${pid} retired: ca internal changed`);
  // The root keeps its name: the reload says so rather than nothing.
  expect(daemon!.output()).toContain(
    `reload: ca[0].common_name: "rota test CA, renamed" names a local CA's root only when the root is created; the root of internal (${join(dir, "state", "local-ca", "internal", "root.pem")}) is "rota test CA root" and keeps that name`,
  );
  expect((await runRota(["renew", "c1", "--force", "--wait", "--socket", socket], { timeoutMs: 30_000 })).code).toBe(0);
  expect(await workers(daemon!)).not.toContain(pid);
});
