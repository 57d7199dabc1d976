/**
 * End to end: dist/rota on real pebble installs one cert to `files` and to a NAS (the fake
 * DSM, 2-step verification on). `rota dsm login` takes the code through a terminal or
 * `--otp` and stores a device token; the daemon's logins carry it; DSM's certificate parts
 * match the files; a restart re-installs nothing; a revoked token latches with one alert
 * while `files` still renews, until `rota dsm login` again. The password, the code and the
 * device id never show in logs, the audit database or CLI output. `verify_served` on the
 * fake's desktop port proves DSM's restarted web server serves the new certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { X509Certificate, randomBytes, randomInt } from "node:crypto";
import { join } from "node:path";
import { ROTA_BIN, runRota, startDaemon, waitFor, type Daemon, type RotaResult } from "../harness/index.ts";
import { startFakeDsm, type FakeDsm } from "../fakes/dsm.ts";
import { readServedLeaf } from "../../src/backends/install/served/probe.ts";
import { systemClock } from "../../src/clock.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, read, serialOf } from "./helpers.ts";

const PASSWORD = `dsm-pw-${randomBytes(9).toString("hex")}`;
const OTP = String(randomInt(100_000, 1_000_000));

let world: World;
let fake: FakeDsm;
let daemon: Daemon;
let config: string;
let hook: ReturnType<typeof Bun.serve>;
const alerts: Array<{ type: string; message: string }> = [];
/** Everything the CLI printed, for the canaries. */
const printed: string[] = [];

const files = (name: string) => join(world.certsDir, "www", name);
const imports = () => fake.calls("SYNO.Core.Certificate import").length;
const nasEntry = () => fake.entries.find((e) => e.desc === "rota");
const deviceJson = () => join(world.stateDir, "dsm", "nas", "device.json");

async function rota(args: string[]): Promise<RotaResult> {
  const r = await runRota(args, { env: world.env });
  printed.push(r.stdout, r.stderr);
  return r;
}

/** `rota dsm login nas` on a terminal (util-linux `script`), typing the code at the prompt. */
async function loginOnTerminal(code: string): Promise<{ exit: number; output: string }> {
  const proc = Bun.spawn(["script", "-q", "-e", "-c", `${ROTA_BIN} dsm login nas --config ${config}`, "/dev/null"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...world.env },
  });
  let output = "";
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  const prompt = `OTP code for rota at ${fake.url}: `;
  while (!output.includes(prompt)) {
    const { value, done } = await reader.read();
    if (done) break;
    output += decoder.decode(value);
  }
  proc.stdin.write(`${code}\r`);
  await proc.stdin.flush();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    output += decoder.decode(value);
  }
  const exit = await proc.exited;
  printed.push(output);
  return { exit, output };
}

beforeAll(async () => {
  world = await startWorld();
  fake = await startFakeDsm({ users: [{ account: "rota", password: PASSWORD, admin: true, otp: OTP }], restartMs: 500, serveDefault: true });
  hook = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      alerts.push((await req.json()) as { type: string; message: string });
      return new Response(null, { status: 204 });
    },
  });
  const passwordFile = join(world.dir, "dsm.pass");
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  const extra = `
[[install]]
name = "nas"
type = "dsm"
url = "${fake.url}"
username = "rota"
password_file = ${JSON.stringify(passwordFile)}
description = "rota"
device_name = "rota-e2e"
make_default = true
verify_served = ["127.0.0.1:${fake.servedPort}"]

[[cert]]
id = "www"
domains = ["www.example.test"]
ca = "pebble"
dcv = "web"
install = ["files", "nas"]
key_path = ${JSON.stringify(join(world.stateDir, "keys", "www.key"))}

[[alert]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:${hook.port}/rota"
`;
  config = world.writeConfig({ certs: [], daemon: { check_interval_seconds: 1, failure_cooldown_seconds: 1, failure_cooldown_max_seconds: 2 }, extra });
});

afterAll(async () => {
  await daemon?.stop();
  await fake?.stop();
  hook?.stop(true);
  await world?.stop();
});

describe("rota dsm login", () => {
  test("without a terminal or --otp: exit 2; a wrong code: exit 1, nothing stored", async () => {
    const none = await rota(["dsm", "login", "nas", "--config", config]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("dsm nas: DSM asks for a 2-step verification code: give --otp CODE, or run on a terminal");
    const wrong = await rota(["dsm", "login", "nas", "--config", config, "--otp", "000000"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("dsm nas: SYNO.API.Auth login: wrong 2-step verification code (404)");
    expect(() => statSync(deviceJson())).toThrow();
    const unknown = await rota(["dsm", "login", "files", "--config", config]);
    expect(unknown).toMatchObject({ code: 2, stderr: 'rota: install "files" has type filesystem, not dsm (dsm targets: nas)\n' });
  });

  test("the code typed on a terminal (not echoed), then through --otp: a device token stored 0600 each time", async () => {
    const tty = await loginOnTerminal(OTP);
    expect(tty.exit).toBe(0);
    expect(tty.output).toContain(`logged in to ${fake.url} as rota; device token stored; certificate "rota" not in DSM yet (the next install creates it)`);
    expect(tty.output).not.toContain(OTP);
    expect(statSync(deviceJson()).mode & 0o777).toBe(0o600);
    const flag = await rota(["dsm", "login", "nas", "--config", config, "--otp", OTP]);
    expect(flag).toMatchObject({ code: 0, stderr: "" });
    expect(flag.stdout).toContain("device token stored");
    expect(statSync(deviceJson()).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(read(deviceJson())).device_id as string;
    expect(fake.devices.get(stored)).toMatchObject({ name: "rota-e2e", revoked: false });
    expect(fake.openSessions()).toBe(0);
  });
});

describe("dsm target on real pebble", () => {
  test("one cert on files and nas: DSM's parts match the files; logins carry the device token, never a code", async () => {
    daemon = startDaemon(config, { env: world.env });
    const row = await waitFor(async () => (await audit(world.socket, "www").catch(() => [])).find((r) => r.status === "succeeded"), 60_000, 200, "www installed");
    expect(row.events.find((e) => e.step === "install")!.message).toBe("installed on files, nas");
    const entry = nasEntry()!;
    expect(entry.certPem.trim()).toBe(read(files("cert.pem")).trim());
    expect(entry.chainPem.trim()).toBe(read(files("chain.pem")).trim());
    expect(entry.keyPem.trim()).toBe(read(files("privkey.pem")).trim());
    expect(imports()).toBe(1);
    // verify_served passed: DSM's web server, restarted by the import, serves the new serial.
    expect(fake.calls("SYNO.Core.Certificate import")[0]!.fields.as_default).toBe("true");
    const endpoint = { host: "127.0.0.1", port: fake.servedPort!, text: "desktop" };
    const served = await readServedLeaf(endpoint, null, new AbortController().signal, systemClock, 5_000);
    expect(new X509Certificate(served).serialNumber.toLowerCase()).toBe(serialOf(files("cert.pem")));
    const stored = JSON.parse(read(deviceJson())).device_id as string;
    const daemonLogins = fake.calls("SYNO.API.Auth login").slice(-1);
    expect(daemonLogins[0]!.fields).toMatchObject({ device_id: stored, device_name: "rota-e2e" });
    expect(daemonLogins[0]!.fields.otp_code).toBeUndefined();
    type Row = { id: string; targets: Array<{ name: string; serial: string | null; error: string | null }> };
    const serial = serialOf(files("cert.pem"));
    await waitFor(async () => {
      const rows = JSON.parse((await rota(["list", "--json", "--socket", world.socket])).stdout) as Row[];
      const t = rows[0]!.targets;
      return t.length === 2 && t.every((x) => x.serial?.toLowerCase().replace(/:/g, "") === serial) ? t : null;
    }, 20_000, 200, "both targets read back with the new serial");
  });

  test("a restart of rota re-installs nothing", async () => {
    const runs = (await audit(world.socket, "www")).length;
    await daemon.stop();
    const lists = fake.calls("SYNO.Core.Certificate.CRT list").length;
    daemon = startDaemon(config, { env: world.env });
    // Three looks at DSM (one list each) after the start: the kept copy confirmed each time.
    await waitFor(async () => fake.calls("SYNO.Core.Certificate.CRT list").length >= lists + 3 || null, 20_000, 100, "three read-backs");
    expect(imports()).toBe(1);
    expect((await audit(world.socket, "www")).length).toBe(runs);
    expect(fake.openSessions()).toBe(0);
  });

  test("a revoked device token: one alert, nothing sent to DSM after, files still renews; rota dsm login mends it", async () => {
    fake.revokeDevices();
    await waitFor(async () => alerts.find((a) => a.type === "target.action_required"), 20_000, 100, "the action_required alert");
    const sent = fake.requests.length;
    const before = serialOf(files("cert.pem"));
    const r = await rota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("`rota dsm login nas`");
    expect(serialOf(files("cert.pem"))).not.toBe(before);
    expect(fake.requests.length).toBe(sent);
    expect(alerts.filter((a) => a.type === "target.action_required")).toHaveLength(1);
    expect(alerts.find((a) => a.type === "target.action_required")!.message).toContain("device token rejected (expired or revoked)");
    // Ok by files, which got the new certificate; the NAS keeps the old one: monitoring is told.
    const check = await waitFor(async () => {
      const c = await rota(["status", "--check", "--socket", world.socket]);
      return c.code === 1 ? c : null;
    }, 20_000, 200, "status --check naming the NAS");
    expect(check.stdout).toContain("www: target nas: ");
    expect(check.stdout).toContain("`rota dsm login nas`");

    const again = await rota(["dsm", "login", "nas", "--config", config, "--otp", OTP]);
    expect(again.code).toBe(0);
    const serial = serialOf(files("cert.pem"));
    await waitFor(async () => nasEntry()?.certPem.trim() === read(files("cert.pem")).trim() || null, 30_000, 200, `nas re-installed with ${serial}`);
    expect(fake.entries).toHaveLength(1);
    expect(alerts.filter((a) => a.type === "target.action_required")).toHaveLength(1);
  });

  test("canaries: no password, code or device id in the log, the audit database or CLI output", async () => {
    printed.push((await rota(["audit", "--json", "--limit", "50", "--socket", world.socket])).stdout);
    printed.push((await rota(["list", "--json", "--socket", world.socket])).stdout);
    printed.push((await rota(["alerts", "--json", "--socket", world.socket])).stdout);
    const deviceIds = [...fake.devices.keys()];
    expect(deviceIds.length).toBeGreaterThanOrEqual(3);
    const db = readdirSync(world.stateDir).filter((f) => f.startsWith("rota.db")).map((f) => readFileSync(join(world.stateDir, f)).toString("latin1"));
    expect(db.length).toBeGreaterThan(0);
    const places = { log: read(daemon.logPath), db: db.join("\n"), cli: printed.join("\n"), alerts: JSON.stringify(alerts) };
    for (const [where, text] of Object.entries(places)) {
      for (const canary of [PASSWORD, OTP, ...deviceIds]) expect({ where, found: text.includes(canary) }).toEqual({ where, found: false });
    }
    for (const r of fake.requests) expect(r.url).not.toContain(PASSWORD);
  });
});
