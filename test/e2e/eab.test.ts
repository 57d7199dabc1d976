/**
 * End to end: an ACME CA that requires External Account Binding (as ZeroSSL does), with
 * the right key and a wrong one. The daemons log at debug level in JSON, so the canary
 * covers every line they can write.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runRota, startDaemon, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, challengeFiles, fileExists, waitForFile, waitForRenewal } from "./helpers.ts";

const goodKey = randomBytes(32).toString("base64url");
let world: World;

beforeAll(async () => {
  world = await startWorld({ eabKeys: { "kid-1": goodKey } });
});

afterAll(async () => {
  await world?.stop();
});

/** The daemon at its most talkative: every ACME request is a line. */
function startVerbose(config: string): Daemon {
  return startDaemon(config, { env: world.env, args: ["daemon", "--config", config, "--log-level", "debug", "--log-format", "json"] });
}

/** A config whose EAB key is `key`, with its own state folder (so its own, unregistered account). */
function eabConfig(name: string, key: string): { config: string; socket: string; stateDir: string } {
  const keyFile = join(world.dir, `${name}.eab`);
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  const stateDir = join(world.dir, `state-${name}`);
  const socket = join(world.dir, `${name}.sock`);
  const config = world.writeConfig({
    daemon: { state_dir: stateDir, socket },
    ca: { eab_kid: "kid-1", eab_hmac_key_file: keyFile },
    certs: [{ id: name, domains: [`${name}.example.test`] }],
  });
  return { config, socket, stateDir };
}

test("the right EAB key registers the account and issues", async () => {
  const { config, socket } = eabConfig("good", goodKey);
  const daemon = startVerbose(config);
  try {
    await waitForFile(join(world.certsDir, "good", "cert.pem"));
    const [row] = await audit(socket, "good");
    expect(row!.status).toBe("succeeded");
    expect(daemon.output()).toMatch(/"level":"debug","component":"acme","cert":"good","renewal":"[^"]+","msg":"acme pebble: POST https:\/\/\S+\/sign-me-up 201 in \d+ ms"/);
    expect(daemon.output()).not.toContain(goodKey);
  } finally {
    await daemon.stop();
  }
});

test("a wrong EAB key fails clearly and issues nothing", async () => {
  const wrongKey = randomBytes(32).toString("base64url");
  const { config, socket } = eabConfig("bad", wrongKey);
  let daemon: Daemon | undefined = startVerbose(config);
  try {
    // The startup renewal fails first; a forced one then fails the same way, past the cooldown.
    await waitForRenewal(socket, "bad", (row) => row.status === "failed");
    const r = await runRota(["renew", "bad", "--force", "--wait", "--socket", socket]);
    const rows = await audit(socket, "bad");
    const failed = rows.find((row) => row.status === "failed")!;
    expect(failed).toBeDefined();
    expect(failed.error).toContain("acme pebble: account:");
    expect(failed.error).toMatch(/binding|EAB|HMAC|signature/i);
    expect(failed.events.find((e) => e.step === "submit")!.status).toBe("failed");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(failed.error!);
    expect(fileExists(join(world.certsDir, "bad", "cert.pem"))).toBe(false);
    expect(challengeFiles(world.webroot)).toEqual([]);
    for (const text of [daemon.output(), JSON.stringify(rows), r.stdout, r.stderr]) expect(text).not.toContain(wrongKey);
  } finally {
    await daemon.stop();
    daemon = undefined;
  }
});
