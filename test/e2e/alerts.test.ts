/**
 * End to end: `rota alerts` and `rota alert test` against the compiled daemon with no sink
 * configured (the sink types come with their own end-to-end tests): the delivery log, and
 * each exit code the test command has.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, type Daemon } from "../harness/index.ts";
import { localCaConfig, waitForFile } from "./helpers.ts";

let dir: string;
let socket: string;
let daemon: Daemon;

beforeAll(async () => {
  dir = makeTempDir("rota-alerts-");
  socket = join(dir, "rota.sock");
  const config = join(dir, "rota.toml");
  writeFileSync(config, localCaConfig().replace("check_interval_seconds = 1", "check_interval_seconds = 1\nexpiry_warning_days = 7"));
  daemon = startDaemon(config);
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

test("rota alerts: an empty log, as JSON and as text", async () => {
  const json = await runRota(["alerts", "--json", "--socket", socket]);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual([]);
  const text = await runRota(["alerts", "--limit", "5", "--socket", socket]);
  expect(text.stdout).toBe("no alerts sent yet\n");
  expect((await runRota(["alerts", "--limit", "0", "--socket", socket])).code).toBe(2);
});

test("rota alert test: 1 with no sink to test, 2 for an unknown sink, 4 for an unknown cert, 3 with no daemon", async () => {
  const none = await runRota(["alert", "test", "--socket", socket]);
  expect([none.code, none.stderr]).toEqual([1, "rota: no [[alert]] is configured: nothing to test\n"]);
  const sink = await runRota(["alert", "test", "pager", "--socket", socket]);
  expect([sink.code, sink.stderr]).toEqual([2, 'rota: no alert sink named "pager" (no [[alert]] is configured)\n']);
  const cert = await runRota(["alert", "test", "--cert", "nope", "--socket", socket]);
  expect([cert.code, cert.stderr]).toEqual([4, 'rota: unknown cert id "nope"\n']);
  expect((await runRota(["alert", "test", "--socket", join(dir, "no.sock")])).code).toBe(3);
});
