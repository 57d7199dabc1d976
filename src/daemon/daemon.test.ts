/**
 * @module The daemon in-process on a fake clock: what a reload refuses, and a stop that
 * meets a reload in progress. Its one cert starts in a cooldown, so no renewal process is
 * started in these tests.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { loadConfig } from "../config/load.ts";
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
  await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: new Date(clock.now().getTime() + 86_400_000), lastError: "test: cooling down" });
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

test("stop() during a reload waits for it, and leaves no timer armed", async () => {
  writeFileSync(file, configText().replace('socket = "rota.sock"', 'socket = "rota.sock"\ncheck_interval_seconds = 60'));
  const reloading = daemon!.reload();
  await daemon!.stop();
  daemon = undefined;
  await reloading;
  expect(clock.pending()).toBe(0);
});
