/**
 * End to end (issue 12 §5): dist/rota against the real pebble through the fault proxy
 * (test/harness/acme-fault-proxy.ts) and a real nginx.
 * - Halt: with nginx stopped, validation fails for real; with `max_authz_failures = 2` and a
 *   1-s cooldown the cert halts, then no attempt comes across a restart and a config edit,
 *   `rota renew` refuses naming the halt, and with nginx back `--force` clears it.
 * - Rate limit: one newOrder answered 429 `rateLimited` with `Retry-After: 120` under a
 *   5-s cooldown: the retry comes 120 s out and counts nothing toward a halt.
 * - Profiles: a profile the CA does not offer waits `failure_cooldown_max_seconds` at once;
 *   the profile fixed in the file, a reload (or a start on the edited file) ends that
 *   cooldown and renews the cert at once.
 * - renewalInfo faults (pebble 2.10): each answer the proxy makes up, 404, 500, HTML, `{}`, an
 *   inverted window, one past notAfter, or Retry-After 0 / negative / an HTTP-date / 10 years,
 *   leaves the daemon renewing: the faults order without `replaces`, the odd Retry-Afters
 *   with it, and no reply makes it ask again and again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pebble210, runRota, startDaemon, startNginx, type Daemon, type Nginx } from "../harness/index.ts";
import { rateLimited, startAcmeFaultProxy, type AcmeFaultProxy, type FaultReply } from "../harness/acme-fault-proxy.ts";
import { startWorld, type ConfigOptions, type World } from "./fixture.ts";
import { audit, list, waitForRenewal, type AuditRow } from "./helpers.ts";

const found = pebble210();
const ari = "binary" in found ? found.binary : null;
if (!ari) console.warn(`halt.test.ts: the renewalInfo faults are skipped: ${(found as { missing: string }).missing}`);

interface Detail {
  status: string;
  retry_at: string | null;
  authz_failures: number;
  halted_at: string | null;
}

let world: World;
let proxy: AcmeFaultProxy;
/** nginx as it runs now: the halt stops it and starts it again. */
let nginx: Nginx | null;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const show = async (id: string): Promise<Detail> => JSON.parse((await runRota(["show", id, "--json", "--socket", world.socket])).stdout) as Detail;
const rows = async (id: string): Promise<AuditRow[]> => audit(world.socket, id);
const secondsBetween = (later: string, earlier: string) => (Date.parse(later) - Date.parse(earlier)) / 1000;
/** Through the proxy, trusting its CA. */
const configFor = (o: ConfigOptions) => world.writeConfig({ ...o, directoryUrl: proxy.directoryUrl, ca: { ca_bundle: proxy.caBundlePath } });

beforeAll(async () => {
  world = await startWorld(ari ? { binary: ari, profiles: { default: { validityPeriod: 90 * 86_400 } } } : {});
  nginx = world.nginx;
  const dir = join(world.dir, "proxy");
  mkdirSync(dir);
  proxy = await startAcmeFaultProxy({ directoryUrl: world.pebble.directoryUrl, pebbleCaPath: world.pebble.caBundlePath, dir });
});

afterAll(async () => {
  await proxy?.stop();
  if (nginx !== world?.nginx) await nginx?.stop().catch(() => {});
  await world?.stop();
});

describe("Halt", () => {
  let daemon: Daemon;
  const config = () =>
    configFor({ daemon: { check_interval_seconds: 1, failure_cooldown_seconds: 1, failure_cooldown_max_seconds: 1, max_authz_failures: 2 }, certs: [{ id: "www", domains: ["www.example.test"] }] });

  beforeAll(async () => {
    await world.nginx.stop();
    nginx = null;
    daemon = startDaemon(config(), { env: world.env });
  });

  afterAll(async () => {
    await daemon?.stop();
    nginx ??= await startNginx({ prefix: world.nginx.prefix, webroot: world.webroot, port: world.nginx.port });
  });

  let lastError: string;

  test("two authorization failures halt the cert: the second row says so, and so do the status and the detail", async () => {
    const halting = await waitForRenewal(world.socket, "www", (r) => r.error?.includes("stopped retrying") === true, 60_000);
    const failed = (await rows("www")).filter((r) => r.status === "failed");
    expect(failed.map((r) => r.id)[0]).toBe(halting.id);
    expect(failed).toHaveLength(2);
    // The CA's own word: pebble could not connect to the stopped nginx.
    expect(failed[1]!.error).toMatch(/^acme pebble: authorization invalid: .*(connect|refused)/i);
    expect(failed[1]!.error).not.toContain("stopped retrying");
    lastError = halting.error!.replace(/; stopped retrying .*$/, "");
    expect(lastError).toMatch(/^acme pebble: authorization invalid: .*(connect|refused)/i);
    expect(halting.error).toBe(`${lastError}; stopped retrying after 2 authorization failures in a row: fix its DCV, then rota renew www --force`);

    const d = await show("www");
    expect(d).toMatchObject({ status: "halted", authz_failures: 2, retry_at: null });
    expect(Date.parse(d.halted_at!)).toBeGreaterThanOrEqual(Date.parse(halting.started_at));
    expect((await list(world.socket)).map((c) => [c.id, c.status])).toEqual([["www", "halted"]]);
    const check = await runRota(["status", "--check", "--socket", world.socket]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`www: halted: ${halting.error}`);
  });

  test("no attempt for 10 s under a 1-s check interval, across a restart and a config edit", async () => {
    const before = (await rows("www")).length;
    await sleep(3_000);
    await daemon.stop();
    daemon = startDaemon(config(), { env: world.env });
    await daemon.waitForOutput("listening on");
    await sleep(3_000);
    // An edited cert (another name) stays halted.
    configFor({
      daemon: { check_interval_seconds: 1, failure_cooldown_seconds: 1, failure_cooldown_max_seconds: 1, max_authz_failures: 3 },
      certs: [{ id: "www", domains: ["www.example.test", "example.test"] }],
    });
    expect((await runRota(["reload", "--socket", world.socket])).code).toBe(0);
    await sleep(4_000);
    expect((await rows("www")).length).toBe(before);
    expect((await show("www")).status).toBe("halted");
  });

  test("rota renew without --force exits 1, naming the halt, the CA's last error and what to do", async () => {
    const r = await runRota(["renew", "www", "--socket", world.socket]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`rota: www stopped retrying after 2 authorization failures in a row (${lastError}); fix its DCV, then rota renew www --force`);
  });

  test("with nginx back, --force clears the halt as it starts and succeeds", async () => {
    nginx = await startNginx({ prefix: world.nginx.prefix, webroot: world.webroot, port: world.nginx.port });
    const r = await runRota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
    expect(r.code).toBe(0);
    expect(await show("www")).toMatchObject({ status: "ok", authz_failures: 0, halted_at: null, retry_at: null });
    expect(daemon.output()).toContain("www: halt cleared by a forced renewal");
  });
});

describe("Rate limit and profiles", () => {
  let daemon: Daemon;

  beforeAll(async () => {
    proxy.failNewOrder("limited.example.test", rateLimited("120"));
    daemon = startDaemon(oddConfig('profile = "tlsserver"'), { env: world.env });
  });

  function oddConfig(profile: string, oddDomains = ["odd.example.test"]): string {
    return configFor({
      daemon: { check_interval_seconds: 1, failure_cooldown_seconds: 5 },
      certs: [
        { id: "limited", domains: ["limited.example.test"] },
        { id: "odd", domains: oddDomains, extra: profile },
      ],
    });
  }

  afterAll(async () => daemon?.stop());

  test("a 429 rateLimited with Retry-After: 120 cools down 120 s, not the 5-s backoff, and counts nothing toward a halt", async () => {
    const row = await waitForRenewal(world.socket, "limited", (r) => r.status === "failed");
    expect(row.error).toContain("too many new orders recently (fault proxy) (HTTP 429)");
    const d = await show("limited");
    expect(d).toMatchObject({ status: "cooldown", authz_failures: 0, halted_at: null });
    const wait = secondsBetween(d.retry_at!, row.finished_at!);
    expect(wait).toBeGreaterThan(115);
    expect(wait).toBeLessThan(125);
    // Only the one order was faked; nothing else was asked of pebble for it since.
    await sleep(3_000);
    expect(proxy.seen.filter((s) => s.identifiers?.includes("limited.example.test")).map((s) => [s.status, s.faked])).toEqual([[429, true]]);
    expect((await rows("limited")).length).toBe(1);
  });

  test("a profile the CA does not offer fails naming the offered ones and waits failure_cooldown_max_seconds at once", async () => {
    const row = await waitForRenewal(world.socket, "odd", (r) => r.status === "failed");
    expect(row.error).toMatch(/^acme pebble: profile "tlsserver" is not offered; the CA offers/);
    const wait = secondsBetween((await show("odd")).retry_at!, row.finished_at!);
    expect(wait).toBeGreaterThan(86_400 - 5);
    expect(wait).toBeLessThan(86_400 + 5);
    await sleep(2_000);
    expect((await rows("odd")).length).toBe(1);
    expect(proxy.seen.some((s) => s.identifiers?.includes("odd.example.test"))).toBe(false);
  });

  test("the profile fixed in the file, the reload ends its cooldown and its look renews it at once; the other cert's cooldown stays", async () => {
    const limited = (await show("limited")).retry_at;
    expect(limited).not.toBeNull();
    oddConfig("");
    const reload = await runRota(["reload", "--socket", world.socket]);
    expect(reload.code).toBe(0);
    expect(reload.stdout).toContain("1 cert changed");
    await daemon.waitForOutput(/odd: what it is ordered with changed since its renewal failed: cooldown until \S+ ended, tried again at its next look if it is due/);
    const row = await waitForRenewal(world.socket, "odd", (r) => r.status === "succeeded", 60_000);
    expect(row.trigger).toBe("reload");
    expect(await show("odd")).toMatchObject({ status: "ok", retry_at: null });
    expect((await show("limited")).retry_at).toBe(limited);
  });

  test("a name added with the profile broken again fails into a cooldown; fixed while the daemon is stopped, the start renews it at once", async () => {
    const domains = ["odd.example.test", "odd2.example.test"];
    oddConfig('profile = "tlsserver"', domains);
    expect((await runRota(["reload", "--socket", world.socket])).code).toBe(0);
    const failed = await waitForRenewal(world.socket, "odd", (r) => r.status === "failed" && r.trigger === "reload");
    expect(failed.error).toMatch(/^acme pebble: profile "tlsserver" is not offered/);
    expect((await show("odd")).retry_at).not.toBeNull();
    expect(await daemon.stop()).toBe(0);

    const config = oddConfig("", domains);
    daemon = startDaemon(config, { env: world.env });
    await daemon.waitForOutput(/odd: what it is ordered with changed since its renewal failed: cooldown until \S+ ended, tried again at its next look if it is due/);
    const row = await waitForRenewal(world.socket, "odd", (r) => r.status === "succeeded" && r.trigger === "startup", 60_000);
    expect(row.reason).toContain("odd2.example.test");
    expect(await show("odd")).toMatchObject({ status: "ok", retry_at: null });
  });
});

describe.skipIf(ari === null)("renewalInfo faults", () => {
  let daemon: Daemon;
  const DAY = 86_400_000;
  const window = (startDays: number, endDays: number, headers: Record<string, string> = {}) => (): FaultReply => ({
    status: 200,
    headers,
    body: { suggestedWindow: { start: new Date(Date.now() + startDays * DAY).toISOString(), end: new Date(Date.now() + endDays * DAY).toISOString() } },
  });
  /** Each fault, and whether its answer is a usable window (the order then carries `replaces`). */
  const faults: Array<[string, () => FaultReply, boolean]> = [
    ["404", () => ({ status: 404, headers: { "content-type": "text/plain" }, body: "not found" }), false],
    ["500", () => ({ status: 500, headers: { "content-type": "application/problem+json" }, body: { type: "urn:ietf:params:acme:error:serverInternal", detail: "boom" } }), false],
    ["HTML", () => ({ status: 200, headers: { "content-type": "text/html" }, body: "<html><body>maintenance</body></html>" }), false],
    ["{}", () => ({ status: 200, body: {} }), false],
    ["an inverted window", window(2, 1), false],
    ["a window past notAfter", window(200, 201), false],
    ["Retry-After: 0", window(1, 2, { "retry-after": "0" }), true],
    ["Retry-After: -5", window(1, 2, { "retry-after": "-5" }), true],
    ["Retry-After as an HTTP-date", window(1, 2, { "retry-after": new Date(Date.now() + 2 * 3600_000).toUTCString() }), true],
    ["Retry-After of 10 years", window(1, 2, { "retry-after": String(10 * 365 * 86_400) }), true],
  ];
  const renewalInfoAsked = () => proxy.seen.filter((s) => s.method === "GET" && s.path.includes("renewal")).length;
  const submitStep = (row: AuditRow) => row.events.find((e) => e.step === "submit" && e.status === "ok")?.message ?? "";

  beforeAll(async () => {
    daemon = startDaemon(configFor({ daemon: { check_interval_seconds: 1 }, certs: [{ id: "ari", domains: ["ari.example.test"] }] }), { env: world.env });
    await waitForRenewal(world.socket, "ari", (r) => r.status === "succeeded");
  });

  afterAll(async () => {
    proxy.faultRenewalInfo(null);
    await daemon?.stop();
  });

  for (const [name, reply, usable] of faults) {
    test(`${name}: the daemon renews, ${usable ? "with" : "without"} replaces, asking once for it`, async () => {
      proxy.faultRenewalInfo(reply);
      const asked = renewalInfoAsked();
      // The certificate the CA answered for before the fault may be replaced with `replaces`
      // (its answer is remembered): the fault's effect shows on the certificate issued under it.
      for (let i = 0; i < 2; i++) expect((await runRota(["renew", "ari", "--force", "--wait", "--socket", world.socket])).code).toBe(0);
      const [row] = await rows("ari");
      expect(row!.status).toBe("succeeded");
      if (usable) expect(submitStep(row!)).toContain("replaces");
      else expect(submitStep(row!)).not.toContain("replaces");
      // Per certificate: the poll right after its issuance, the order's own look when that gave no answer.
      expect(renewalInfoAsked() - asked).toBeGreaterThanOrEqual(1);
      expect(renewalInfoAsked() - asked).toBeLessThanOrEqual(6);
    });
  }

  test("afterwards, at a 1-s check interval, nothing asks again and again", async () => {
    const asked = renewalInfoAsked();
    await sleep(4_000);
    expect(renewalInfoAsked() - asked).toBeLessThanOrEqual(2);
    expect(daemon.server.running).toBe(true);
    expect((await list(world.socket)).find((c) => c.id === "ari")?.status).toBe("ok");
  });
});
