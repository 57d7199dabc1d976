/**
 * End to end: with 1-hour certificates and a 2-second tick, the scheduler renews on its
 * own, and `rota list --json` / `rota audit --json` show it. Pebble keeps its default
 * nonce rejections and authorization reuse here, which a correct client rides through.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { startDaemon, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, challengeFiles, list, serialOf, waitForFile, waitForRenewal } from "./helpers.ts";

let world: World;
let daemon: Daemon;

beforeAll(async () => {
  world = await startWorld({ validitySeconds: 3600, authzReusePercent: 50, nonceReject: true });
  const config = world.writeConfig({ daemon: { check_interval_seconds: 2, renew_threshold_days: 1 } });
  daemon = startDaemon(config, { env: world.env });
  await waitForFile(join(world.certsDir, "www", "cert.pem"));
});

afterAll(async () => {
  await daemon?.stop();
  await world?.stop();
});

test("renews on its own when the certificate is within the threshold", async () => {
  const first = serialOf(join(world.certsDir, "www", "cert.pem"));
  const scheduled = await waitForRenewal(world.socket, "www", (r) => r.trigger === "scheduled" && r.status === "succeeded");
  expect(scheduled.events.find((e) => e.step === "install")!.status).toBe("ok");
  const second = serialOf(join(world.certsDir, "www", "cert.pem"));
  expect(second).not.toBe(first);
  expect(challengeFiles(world.webroot)).toEqual([]);
});

test("rota list --json reports the short certificate", async () => {
  const [cert] = await list(world.socket);
  expect(Object.keys(cert!).sort()).toEqual(["ari_window", "days_left", "domains", "domains_unicode", "due_since", "id", "last_renewal", "look_error", "next_check", "not_after", "renew_at", "renew_reason", "retry_at", "status", "targets"]);
  // A threshold of 1 day on a 1-hour certificate: due from the start, by the threshold.
  expect(cert!.renew_reason).toBe("threshold");
  expect(Date.parse(cert!.renew_at!)).toBe(Date.parse(cert!.not_after!) - 86_400_000);
  expect(cert!.id).toBe("www");
  expect(cert!.domains).toEqual(["www.example.test", "example.test"]);
  expect(["due", "renewing", "ok"]).toContain(cert!.status);
  expect(cert!.not_after).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(cert!.days_left).toBeGreaterThan(0);
  expect(cert!.days_left).toBeLessThanOrEqual(0.05);
  expect(cert!.retry_at).toBeNull();
  expect(cert!.last_renewal).not.toBeNull();
});

test("the threshold that renews at every check is said once per certificate", () => {
  expect(daemon.output()).toContain("www: renew_threshold_days = 1 (daemon) is at least half of this certificate's 0.04-day lifetime, so it renews at every check; remove it to renew at ½ of the lifetime");
});

test("rota audit --json shows startup and scheduled renewals, newest first", async () => {
  const rows = await audit(world.socket, "www");
  expect(rows.length).toBeGreaterThanOrEqual(2);
  expect(rows[rows.length - 1]!.trigger).toBe("startup");
  expect(rows.some((r) => r.trigger === "scheduled")).toBe(true);
  for (let i = 1; i < rows.length; i++) expect(Date.parse(rows[i - 1]!.started_at)).toBeGreaterThanOrEqual(Date.parse(rows[i]!.started_at));
  const done = rows.find((r) => r.status === "succeeded")!;
  expect(Object.keys(done).sort()).toEqual(["cert_id", "error", "events", "finished_at", "id", "install_only", "node", "reason", "started_at", "status", "trigger"]);
  expect(Object.keys(done.events[0]!).sort()).toEqual(["at", "duration_ms", "message", "status", "step"]);
});
