/**
 * @module The daemon in-process on a fake clock: what a reload refuses, and a stop that
 * meets a reload in progress. Its one cert starts in a cooldown, so no renewal process is
 * started in these tests.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { loadConfig, loadConfigCached } from "../config/load.ts";
import { lookupParse } from "../config/parse-cache.ts";
import { lstatOrNull } from "../fsutil.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { startDaemon, type RunningDaemon } from "./daemon.ts";

const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

let dir: string;
let file: string;
let clock: FakeClock;
let daemon: RunningDaemon | undefined;

const configText = (installDir = "certs") => `[daemon]
state_dir = "state"
socket = "rota.sock"

[audit]
path = "rota.db"

[[ca]]
name = "internal"
type = "local"

[[install]]
name = "files"
type = "filesystem"
dir = "${installDir}"

[[cert]]
id = "www"
domains = ["www.home.arpa"]
ca = "internal"
install = "files"
`;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-daemon-"));
  file = join(dir, "rota.toml");
  writeFileSync(file, configText());
  clock = new FakeClock();
  const store = new SqliteAuditStore(join(dir, "rota.db"));
  await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: new Date(clock.now().getTime() + 86_400_000), lastError: "test: cooling down", authzFailures: 0, haltedAt: null });
  await store.close();
  daemon = await startDaemon({ config: loadConfig(file), log: silent, clock, version: "test" });
});

afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  rmSync(dir, { recursive: true, force: true });
});

test("a reload whose config fails the start checks is refused, naming the problem, and changes nothing", async () => {
  writeFileSync(join(dir, "not-a-key"), "hello");
  writeFileSync(file, `${configText()}key_path = "not-a-key"\n`);
  const result = await daemon!.reload();
  const key = join(dir, "not-a-key");
  expect(result).toEqual({ ok: false, file, problems: [`cert[0].key_path: ${key} is not a private key (fix or remove the file; rota will not overwrite it)`] });

  writeFileSync(file, configText());
  expect(await daemon!.reload()).toMatchObject({ ok: true, summary: "no changes" });
});

test("a reload says the start checks' new warnings, as a start does, and applies", async () => {
  await daemon!.stop();
  const logged: string[] = [];
  const log = createConsola({ level: 1, reporters: [{ log: (o) => void logged.push(o.args.join(" ")) }] });
  daemon = await startDaemon({ config: loadConfig(file), log, clock, version: "test" });
  const key = join(dir, "rsa.key");
  expect(Bun.spawnSync(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]).exitCode).toBe(0);
  writeFileSync(file, `${configText()}key_path = "rsa.key"\n`);
  expect(await daemon.reload()).toMatchObject({ ok: true });
  expect(logged.filter((l) => l.startsWith("reload: cert[0].key_path"))).toEqual([
    `reload: cert[0].key_path: ${key} holds an rsa-2048 key, not the configured ecdsa-p256: the next renewal moves it to ${key}.old and uses a new ecdsa-p256 key`,
  ]);
});

test("a reload that applies keeps the new file's parse for the next start; one refused keeps none", async () => {
  await daemon!.stop();
  const tag = "test build";
  daemon = await startDaemon({ config: loadConfig(file), log: silent, clock, version: "test", load: (f) => loadConfigCached(f, tag, {}) });
  const cached = () => lookupParse(readFileSync(file), file, tag).hit !== undefined;
  writeFileSync(join(dir, "not-a-key"), "hello");
  writeFileSync(file, `${configText()}key_path = "not-a-key"\n`);
  expect(await daemon.reload()).toMatchObject({ ok: false });
  expect(cached()).toBe(false);
  writeFileSync(file, configText("other-certs"));
  expect(await daemon.reload()).toMatchObject({ ok: true });
  expect(cached()).toBe(true);
  expect(loadConfigCached(file, tag, {}).config).toEqual(loadConfig(file, {}));
});

test("a key that is not one does not stop a start: the API answers first, and the start's warning follows", async () => {
  await daemon!.stop();
  const logged: string[] = [];
  const log = createConsola({ level: 3, reporters: [{ log: (o) => void logged.push(o.args.join(" ")) }] });
  writeFileSync(join(dir, "not-a-key"), "hello");
  writeFileSync(file, `${configText()}key_path = "not-a-key"\n`);
  daemon = await startDaemon({ config: loadConfig(file), log, clock, version: "test" });
  const res = await fetch("http://rota/healthz", { unix: join(dir, "rota.sock") });
  expect(await res.text()).toBe("ok");
  const warning = `cert[0].key_path: ${join(dir, "not-a-key")} is not a private key (fix or remove the file; rota will not overwrite it)`;
  for (let turns = 0; !logged.includes(warning) && turns < 100; turns++) await new Promise((resolve) => setImmediate(resolve));
  expect(logged.filter((l) => l.includes("key_path"))).toEqual([warning]);
  const listening = logged.findIndex((l) => l.includes("listening on"));
  expect(listening).toBeGreaterThanOrEqual(0);
  expect(listening).toBeLessThan(logged.indexOf(warning));
});

test("stop() during a reload waits for it, and leaves no timer armed", async () => {
  writeFileSync(file, configText().replace('socket = "rota.sock"', 'socket = "rota.sock"\ncheck_interval_seconds = 60'));
  const reloading = daemon!.reload();
  await daemon!.stop();
  daemon = undefined;
  await reloading;
  expect(clock.pending()).toBe(0);
});

test("a socket removed by hand is recreated at the next check; a request in flight on the old one is answered", async () => {
  const socket = join(dir, "rota.sock");
  let received = "";
  let closed = () => {};
  const ended = new Promise<void>((resolve) => (closed = resolve));
  const old = await Bun.connect({ unix: socket, socket: { data: (_s, d) => void (received += d.toString()), close: () => closed() } });
  // The request is in flight: its headers are not complete yet.
  old.write("GET /healthz HTTP/1.1\r\nHost: rota\r\n");
  rmSync(socket);
  await clock.advance(60_000);
  expect(lstatOrNull(socket)?.isSocket()).toBe(true);
  old.write("Connection: close\r\n\r\n");
  await ended;
  expect(received).toStartWith("HTTP/1.1 200");
  // The old listener's stop, not awaited by the check, has run its course: the new socket is still there, and answers.
  expect(lstatOrNull(socket)?.isSocket()).toBe(true);
  expect(await (await fetch("http://localhost/healthz", { unix: socket })).text()).toBe("ok");
});
