/**
 * End to end: a restart on the same config file listens before it reads the certs (issue 11).
 * `/healthz` answers, a request made right after it gets the full answer (held until the start
 * is done, never a 503), and a restart whose cert part no longer validates on this machine (a
 * cert's key_path now a folder) exits 2 naming the key, leaving the socket and the lock free.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { localCaConfig, waitForFile } from "./helpers.ts";

const TOKEN = "early-start-token-0123456789abcdef";
let dir: string;
let config: string;
let socket: string;
let port: number;
let daemon: Daemon | undefined;

beforeAll(async () => {
  dir = makeTempDir("rota-early-");
  config = join(dir, "rota.toml");
  socket = join(dir, "rota.sock");
  port = await freePort();
  writeFileSync(join(dir, "token"), `${TOKEN}\n`, { mode: 0o600 });
  writeFileSync(config, `${localCaConfig({ extra: 'key_path = "app.key"\n' })}\n[http]\nlisten = "127.0.0.1:${port}"\ntoken_file = "token"\n`);
  daemon = startDaemon(config);
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
  // Kept once the first sweep is over: the next start on these bytes is a cache hit.
  await waitFor(() => existsSync(join(dir, "state", "config-parse.json")), 30_000, 50, "the config's parse to be kept");
  expect(readFileSync(join(dir, "state", "config-parse.json"), "latin1").startsWith("rota-config-parse 2 ")).toBe(true);
  expect(await daemon.stop()).toBe(0);
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

test("a restart on a cache hit: /healthz, then the full answer to the next request, over TCP and the socket", async () => {
  daemon = startDaemon(config);
  const health = await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok ?? false, 30_000, 2, "/healthz");
  expect(health).toBe(true);
  const [overTcp, overSocket] = await Promise.all([
    fetch(`http://127.0.0.1:${port}/api/certs`, { headers: { Authorization: `Bearer ${TOKEN}` } }),
    fetch("http://rota/api/certs", { unix: socket }),
  ]);
  expect([overTcp.status, overSocket.status]).toEqual([200, 200]);
  const tcpBody = (await overTcp.json()) as Array<{ id: string }>;
  expect(tcpBody.map((c) => c.id)).toEqual(["app"]);
  expect(((await overSocket.json()) as Array<{ id: string }>).map((c) => c.id)).toEqual(["app"]);
  expect((await fetch(`http://127.0.0.1:${port}/api/certs`)).status).toBe(401);
  await daemon.waitForOutput("listening on");
  expect(daemon.output()).toContain(`http: listening on http://127.0.0.1:${port} without TLS`);
  expect(await daemon.stop()).toBe(0);
  daemon = undefined;
});

test("a restart whose cert part no longer validates exits 2 naming the key, and leaves the socket and the lock free", async () => {
  const key = join(dir, "app.key");
  const saved = readFileSync(key);
  rmSync(key);
  mkdirSync(key);
  try {
    const r = await runRota(["daemon", "--config", config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`rota: config ${config} is not valid:\n  cert[0].key_path: ${key} exists and is not a file\n`);
    expect(r.stderr).not.toContain("    at ");
    expect(existsSync(socket)).toBe(false);
  } finally {
    rmSync(key, { recursive: true });
    writeFileSync(key, saved, { mode: 0o600 });
  }
  daemon = startDaemon(config);
  await daemon.waitForOutput("listening on");
  expect(await (await fetch("http://rota/healthz", { unix: socket })).text()).toBe("ok");
});
