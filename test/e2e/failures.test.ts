/**
 * End to end: a CA that is down, a CA whose TLS is not trusted, and a webroot that cannot
 * be written each leave the old certificate installed, no challenge file, a failed audit
 * row with the real error, and a cooldown that survives a restart.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { freePort, runRota, startDaemon, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, challengeFiles, list, read, serialOf, waitForFile } from "./helpers.ts";

let world: World;
let certPath: string;
let originalSerial: string;
let original: string;

beforeAll(async () => {
  world = await startWorld();
  const daemon = startDaemon(world.writeConfig(), { env: world.env });
  certPath = join(world.certsDir, "www", "cert.pem");
  await waitForFile(certPath);
  await daemon.stop();
  original = read(certPath);
  originalSerial = serialOf(certPath);
});

afterAll(async () => {
  await world?.stop();
});

/** Runs a daemon on `config`, forces a renewal and waits for it to end; returns its exit, the newest row and the daemon. */
async function forcedRenewal(config: string): Promise<{ code: number; stdout: string; stderr: string; row: Awaited<ReturnType<typeof audit>>[number]; daemon: Daemon }> {
  const daemon = startDaemon(config, { env: world.env });
  await daemon.waitForOutput("listening on");
  const r = await runRota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
  const [row] = await audit(world.socket, "www");
  return { ...r, row: row!, daemon };
}

function expectUntouched(): void {
  expect(read(certPath)).toBe(original);
  expect(serialOf(certPath)).toBe(originalSerial);
  expect(challengeFiles(world.webroot)).toEqual([]);
}

describe("CA down", () => {
  let daemon: Daemon;
  let port: number;
  afterAll(async () => daemon?.stop());

  test("fails fast with the connection error, keeps the old cert, cools down", async () => {
    port = await freePort();
    const r = await forcedRenewal(world.writeConfig({ directoryUrl: `https://127.0.0.1:${port}/dir` }));
    daemon = r.daemon;
    expect(r.code).toBe(1);
    expect(r.row.status).toBe("failed");
    expect(r.row.error).toContain(`127.0.0.1:${port}`);
    expect(r.row.error).toMatch(/ECONNREFUSED|refused|Unable to connect/i);
    // acme-client alone would retry for ~75 s and then report a TypeError.
    expect(r.row.error).not.toContain("TypeError");
    expect(Date.parse(r.row.finished_at!) - Date.parse(r.row.started_at)).toBeLessThan(10_000);
    expect(r.stderr).toContain(r.row.error!);
    expectUntouched();

    // The installed certificate is fine: a failed forced renewal does not make it "cooldown";
    // the failure shows in last_renewal and retry_at.
    const [cert] = await list(world.socket);
    expect(cert!.status).toBe("ok");
    expect(cert!.last_renewal).toMatchObject({ status: "failed" });
    const wait = Date.parse(cert!.retry_at!) - Date.parse(r.row.finished_at!);
    expect(wait).toBeGreaterThan(890_000);
    expect(wait).toBeLessThan(910_000);
  });

  test("without --force, renew refuses during the cooldown", async () => {
    const r = await runRota(["renew", "www", "--socket", world.socket]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cooling down");
  });

  test("the cooldown survives a restart on the same config", async () => {
    await daemon.stop();
    // The same CA: another URL would be a change of what the cert is ordered with, which ends the cooldown.
    daemon = startDaemon(world.writeConfig({ directoryUrl: `https://127.0.0.1:${port}/dir` }), { env: world.env });
    await daemon.waitForOutput("listening on");
    const [cert] = await list(world.socket);
    expect(cert!.retry_at).not.toBeNull();
    const rows = await audit(world.socket, "www");
    // The startup tick saw the cooldown and did not try again.
    expect(rows.filter((row) => row.trigger === "startup" && row.status === "failed")).toEqual([]);
  });
});

describe("CA's TLS not trusted (no ca_bundle)", () => {
  test("fails fast naming the certificate problem", async () => {
    const config = world.writeConfig({ ca: {} });
    const withoutBundle = read(config).replace(/^ca_bundle = .*$/m, "");
    await Bun.write(config, withoutBundle);
    const r = await forcedRenewal(config);
    try {
      expect(r.code).toBe(1);
      expect(r.row.status).toBe("failed");
      expect(r.row.error).toMatch(/certificate|self.signed|verify/i);
      expect(r.row.error).not.toContain("TypeError");
      expect(Date.parse(r.row.finished_at!) - Date.parse(r.row.started_at)).toBeLessThan(10_000);
      expectUntouched();
    } finally {
      await r.daemon.stop();
    }
  });
});

describe("webroot not writable", () => {
  test("fails at publish, keeps the old cert, leaves no challenge file", async () => {
    const challengeDir = join(world.webroot, ".well-known", "acme-challenge");
    // Root ignores permission bits; an immutable folder stops even root.
    expect(Bun.spawnSync(["chattr", "+i", challengeDir]).exitCode).toBe(0);
    let r;
    try {
      r = await forcedRenewal(world.writeConfig());
    } finally {
      Bun.spawnSync(["chattr", "-i", challengeDir]);
    }
    try {
      expect(r.code).toBe(1);
      expect(r.row.status).toBe("failed");
      const publish = r.row.events.find((e) => e.step === "publish")!;
      expect(publish.status).toBe("failed");
      expect(publish.message).toContain("webroot web: cannot write");
      expect(r.row.events.find((e) => e.step === "remove")!.status).toBe("ok");
      expect(r.row.events.some((e) => e.step === "await_issuance")).toBe(false);
      expect(r.row.error).toMatch(/EPERM|not permitted/);
      expectUntouched();
      expect((await list(world.socket))[0]!).toMatchObject({ status: "ok", last_renewal: { status: "failed" } });
      expect((await list(world.socket))[0]!.retry_at).not.toBeNull();
    } finally {
      await r.daemon.stop();
    }
  });
});
