/**
 * @module Daemons in cluster mode, in-process, on one test SurrealDB (rocksdb) with real
 * clocks and a 3-s lease: the first acquire is settled before `startDaemon` returns, a
 * second daemon under a live node id is refused, `/api/status` carries the brief, and a stop
 * releases the lease first so another node leads within a tick. Their one cert starts in a
 * cooldown, so no renewal process is started.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { startSurreal, type TestSurreal } from "../../test/harness/surreal.ts";
import { Authority } from "../backends/ca/local/authority.ts";
import { systemClock } from "../clock.ts";
import { generateKeyPem } from "../crypto/keys.ts";
import { loadConfig } from "../config/load.ts";
import { RotaError } from "../errors.ts";
import { SurrealAuditStore } from "../store/surreal.ts";
import { startDaemon, type RunningDaemon } from "./daemon.ts";

const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

let server: TestSurreal;
let dir: string;
const database = `cluster_${process.pid}`;
let passwordFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-daemon-cluster-"));
  server = await startSurreal({ dir: join(dir, "server"), engine: "rocksdb" });
  const password = `pw-${crypto.randomUUID()}`;
  await server.database(database, password);
  passwordFile = join(dir, "surreal.pass");
  writeFileSync(passwordFile, password, { mode: 0o600 });
  // Cluster mode never makes a key or a local CA root: every node gets copies of one set.
  await new Authority(join(dir, "shared", "local-ca", "internal"), "rota test root", systemClock).intermediate();
  mkdirSync(join(dir, "shared", "keys"), { recursive: true });
  writeFileSync(join(dir, "shared", "keys", "www.key"), generateKeyPem("ecdsa-p256"), { mode: 0o600 });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A node's config in its own folder; returns the config file. */
function node(name: string, nodeId: string): string {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  cpSync(join(dir, "shared"), join(home, "state"), { recursive: true });
  const file = join(home, "rota.toml");
  writeFileSync(
    file,
    `[daemon]
state_dir = "state"
socket = "rota.sock"

[audit]
backend = "surrealdb"
url = "${server.url}"
database = "${database}"
username = "rota"
password_file = "${passwordFile}"

[cluster]
enabled = true
node_id = "${nodeId}"
lock_ttl_seconds = 3

[[ca]]
name = "internal"
type = "local"

[[install]]
name = "files"
type = "filesystem"
dir = "certs"

[[cert]]
id = "www"
domains = ["www.home.arpa"]
ca = "internal"
install = "files"
`,
  );
  return file;
}

const status = async (file: string) => {
  const socket = join(file, "..", "rota.sock");
  return ((await (await fetch("http://localhost/api/status", { unix: socket })).json()) as { cluster: unknown }).cluster;
};

test("one leader from the start; a second daemon under a live node id is refused; a stop hands the lease over within a tick", async () => {
  const a = node("a", "nas-1");
  const b = node("b", "nas-2");
  // The cert cools down on the shared database: no renewal starts on either node.
  const audit = loadConfig(a).audit;
  if (audit.backend !== "surrealdb") throw new Error("the test config is on SurrealDB");
  const seed = await SurrealAuditStore.open(audit, { owner: "seed", buffered: false, log: silent, clock: systemClock, stateDir: dir });
  await seed.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: new Date(Date.now() + 86_400_000), lastError: "test: cooling down", authzFailures: 0, haltedAt: null });

  const daemons: RunningDaemon[] = [];
  try {
    daemons.push(await startDaemon({ config: loadConfig(a), log: silent, clock: systemClock, version: "test" }));
    expect(await status(a)).toEqual({ node_id: "nas-1", role: "leader", leader: "nas-1", term: 1 });
    daemons.push(await startDaemon({ config: loadConfig(b), log: silent, clock: systemClock, version: "test" }));
    expect(await status(b)).toEqual({ node_id: "nas-2", role: "follower", leader: "nas-1", term: 1 });

    const err = await startDaemon({ config: loadConfig(node("c", "nas-1")), log: silent, clock: systemClock, version: "test" }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RotaError);
    expect((err as RotaError).message).toMatch(/^cluster: node id nas-1 is in use by a live daemon \(heartbeat \d+ s ago\)$/);

    const stopping = Date.now();
    await daemons.shift()!.stop();
    const until = Date.now() + 2_500;
    while (((await status(b)) as { role: string }).role !== "leader" && Date.now() < until) await Bun.sleep(50);
    expect(await status(b)).toEqual({ node_id: "nas-2", role: "leader", leader: "nas-2", term: 2 });
    // Within one tick (1 s) of the stop, not after the lease's 3 s.
    expect(Date.now() - stopping).toBeLessThan(2_500);
    const [rows] = (await seed.clusterLink().query("SELECT node_id, type, term, at, inserted_at FROM cluster_event ORDER BY at, inserted_at")) as [Record<string, unknown>[]];
    expect(rows.map(({ node_id, type, term }) => ({ node_id, type, term }))).toEqual([
      { node_id: "nas-1", type: "leader_acquired", term: 1 },
      { node_id: "nas-1", type: "leader_lost", term: 1 },
      { node_id: "nas-2", type: "leader_acquired", term: 2 },
    ]);
  } finally {
    for (const d of daemons) await d.stop();
    await seed.close();
  }
}, 60_000);
