/**
 * End to end: DNS-01 through the compiled binary and real pebble. The Cloudflare and
 * Namecheap fakes mirror what rota publishes into challtestsrv's DNS, so pebble's own
 * DNS-01 validation reads it; the propagate step asks challtestsrv as a resolver.
 * Wildcard + apex through each backend, a CNAME-delegated name, a propagation timeout that
 * cleans up, a SIGKILL during propagate that the next start cleans up, and a SIGTERM while
 * Cloudflare or Namecheap still works on a write (the fake holds it) that leaves no record behind.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TestDnsServer } from "../../src/testing/dns-server.ts";
import { cloudflareId, startFakeCloudflare, type FakeCloudflare } from "../fakes/cloudflare.ts";
import { startFakeNamecheap, type FakeHost, type FakeNamecheap } from "../fakes/namecheap.ts";
import { startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, waitForRenewal, type AuditRow } from "./helpers.ts";

const CF_TOKEN = "cf-e2e-token-0123456789";
const NC_KEY = "nc-e2e-key-0123456789";

/** A zone the way people keep it, with the values other tools mangled. */
const NC_HOSTS: FakeHost[] = [
  { name: "@", type: "A", address: "192.0.2.10", mxPref: "10", ttl: "1800" },
  { name: "@", type: "MX", address: "mx1.mail.example.", mxPref: "5", ttl: "3600" },
  { name: "@", type: "TXT", address: 'v=spf1 include:_spf.example.net ~all "quoted" +x=y é', mxPref: "10", ttl: "1800" },
  { name: "@", type: "CAA", address: '0 issue "letsencrypt.org"', mxPref: "10", ttl: "1800" },
  { name: "old", type: "URL301", address: "https://example.net/new?a=b&c=d", mxPref: "10", ttl: "1800" },
];

let world: World;
let cf: FakeCloudflare;
let nc: FakeNamecheap;
/** A resolver that never has the value: the zone's records without the challenge. */
let laggard: TestDnsServer;
let daemon: Daemon | undefined;
let config: string;

function dcvSections(resolver: string): string {
  const shared = (resolvers: string, extra = "") =>
    `propagation_resolvers = [${JSON.stringify(resolvers)}]\nbootstrap_resolver = ${JSON.stringify(resolver)}\npropagation_interval_seconds = 1\n${extra}`;
  return [
    `[[dcv]]\nname = "cf"\ntype = "cloudflare"\napi_url = ${JSON.stringify(cf.url)}\napi_token_env = "ROTA_E2E_CF_TOKEN"\n${shared(resolver)}`,
    `[[dcv]]\nname = "nc"\ntype = "namecheap"\napi_url = ${JSON.stringify(nc.url)}\napi_user = "alice"\napi_key_env = "ROTA_E2E_NC_KEY"\nclient_ip = "203.0.113.7"\n${shared(resolver)}`,
    `[[dcv]]\nname = "cf-slow"\ntype = "cloudflare"\napi_url = ${JSON.stringify(cf.url)}\napi_token_env = "ROTA_E2E_CF_TOKEN"\n${shared(laggard.address, "propagation_timeout_seconds = 3\n")}`,
    `[[dcv]]\nname = "cf-hang"\ntype = "cloudflare"\napi_url = ${JSON.stringify(cf.url)}\napi_token_env = "ROTA_E2E_CF_TOKEN"\n${shared(laggard.address, "propagation_timeout_seconds = 600\n")}`,
  ].join("\n");
}

function start(): Daemon {
  return startDaemon(config, { env: { ...world.env, ROTA_E2E_CF_TOKEN: CF_TOKEN, ROTA_E2E_NC_KEY: NC_KEY } });
}

beforeAll(async () => {
  world = await startWorld();
  const mirror = { setTxt: world.pebble.setTxt, clearTxt: world.pebble.clearTxt };
  cf = startFakeCloudflare({
    token: CF_TOKEN,
    zones: [
      { id: cloudflareId(), name: "cf.test" },
      { id: cloudflareId(), name: "delegate.test" },
    ],
    mirror,
  });
  nc = startFakeNamecheap({ apiKey: NC_KEY, mirror });
  nc.zones.set("nc.test", { emailType: "FWD", isUsingOurDns: true, hosts: NC_HOSTS.map((h) => ({ ...h })) });
  laggard = await new TestDnsServer("127.0.0.1", "cf.test", []).start();
  // A user whose DNS host has no API points _acme-challenge at a zone rota can write.
  const cname = await fetch(`${world.pebble.challtestsrvUrl}/set-cname`, {
    method: "POST",
    body: JSON.stringify({ host: "_acme-challenge.alias.example.test.", target: "alias.delegate.test." }),
  });
  expect(cname.ok).toBe(true);
  const resolver = `127.0.0.1:${world.pebble.dnsPort}`;
  config = world.writeConfig({
    certs: [
      { id: "cfwild", domains: ["*.cf.test", "cf.test"], dcv: "cf" },
      { id: "ncwild", domains: ["*.nc.test", "nc.test"], dcv: "nc" },
      { id: "alias", domains: ["alias.example.test"], dcv: "cf" },
      { id: "slow", domains: ["slow.cf.test"], dcv: "cf-slow" },
    ],
    extra: dcvSections(resolver),
  });
  daemon = start();
});

afterAll(async () => {
  await daemon?.stop();
  await cf?.stop();
  await nc?.stop();
  await laggard?.stop();
  await world?.stop();
});

const step = (row: AuditRow, name: string) => row.events.find((e) => e.step === name);

function sans(certId: string): string {
  const p = Bun.spawnSync(["openssl", "x509", "-in", join(world.certsDir, certId, "cert.pem"), "-noout", "-ext", "subjectAltName"], { stdout: "pipe" });
  return p.stdout.toString();
}

test("a wildcard + apex certificate issues through Cloudflare: two TXT values on one name, both seen before the CA is told, both removed", async () => {
  const row = await waitForRenewal(world.socket, "cfwild", () => true, 60_000);
  expect(row.error).toBeNull();
  expect(row.status).toBe("succeeded");
  expect(sans("cfwild")).toContain("DNS:*.cf.test");
  expect(sans("cfwild")).toContain("DNS:cf.test");
  const created = cf.requests.filter((r) => r.method === "POST" && r.path.endsWith("/dns_records"));
  const mine = created.filter((r) => (r.body as { name?: string }).name === "_acme-challenge.cf.test");
  expect(mine.length).toBe(2);
  expect(new Set(mine.map((r) => (r.body as { content: string }).content)).size).toBe(2);
  expect(mine.every((r) => (r.body as { ttl: number }).ttl === 60)).toBe(true);
  const propagate = step(row, "propagate")!;
  expect(propagate.status).toBe("ok");
  expect(propagate.message).toContain("_acme-challenge.cf.test");
  expect(propagate.message).toContain(`127.0.0.1:${world.pebble.dnsPort}`);
  const order = row.events.map((e) => e.step);
  expect(order.indexOf("publish")).toBeLessThan(order.indexOf("propagate"));
  expect(order.indexOf("propagate")).toBeLessThan(order.indexOf("await_issuance"));
  expect(cf.txt("_acme-challenge.cf.test")).toEqual([]);
});

test("a wildcard + apex certificate issues through Namecheap, and every other record of the zone comes back exactly as it was", async () => {
  const row = await waitForRenewal(world.socket, "ncwild", () => true, 60_000);
  expect(row.error).toBeNull();
  expect(row.status).toBe("succeeded");
  expect(sans("ncwild")).toContain("DNS:*.nc.test");
  expect(step(row, "propagate")!.status).toBe("ok");
  const zone = nc.zones.get("nc.test")!;
  expect(zone.hosts).toEqual(NC_HOSTS);
  expect(zone.emailType).toBe("FWD");
  const sets = nc.requests.filter((r) => r.command === "namecheap.domains.dns.setHosts");
  // One read-modify-write per change: two values published, two removed.
  expect(sets.length).toBe(4);
  for (const s of sets) expect(s.params.EmailType).toBe("FWD");
  const gets = nc.requests.filter((r) => r.command === "namecheap.domains.dns.getHosts");
  expect(gets.length).toBe(4);
});

test("a CNAME-delegated name: the TXT goes to the CNAME's target in the zone rota can write, and the publish step names it", async () => {
  const row = await waitForRenewal(world.socket, "alias", () => true, 60_000);
  expect(row.error).toBeNull();
  expect(row.status).toBe("succeeded");
  expect(step(row, "publish")!.message).toContain("alias.delegate.test");
  const created = cf.requests.filter((r) => r.method === "POST" && r.path.endsWith("/dns_records")).map((r) => (r.body as { name: string }).name);
  expect(created).toContain("alias.delegate.test");
  expect(created).not.toContain("_acme-challenge.alias.example.test");
  expect(cf.txt("alias.delegate.test")).toEqual([]);
});

test("a propagation timeout fails the renewal naming what is missing, and removes what it published", async () => {
  const row = await waitForRenewal(world.socket, "slow", () => true, 60_000);
  expect(row.status).toBe("failed");
  const propagate = step(row, "propagate")!;
  expect(propagate.status).toBe("failed");
  expect(propagate.message).toContain("not visible after 3 s");
  expect(propagate.message).toContain("_acme-challenge.slow.cf.test");
  expect(step(row, "await_issuance")).toBeUndefined();
  expect(step(row, "remove")!.status).toBe("ok");
  expect(cf.txt("_acme-challenge.slow.cf.test")).toEqual([]);
  // It asked the configured resolver, with recursion desired, more than once.
  expect(laggard.asked.filter((q) => q.name === "_acme-challenge.slow.cf.test" && q.recursive).length).toBeGreaterThan(1);
});

test("SIGKILL during propagate: the record stays until the next start, whose journal removes it", async () => {
  await daemon?.stop();
  config = world.writeConfig({
    certs: [{ id: "hang", domains: ["hang.cf.test"], dcv: "cf-hang" }],
    extra: dcvSections(`127.0.0.1:${world.pebble.dnsPort}`),
  });
  daemon = start();
  const running = await waitFor(
    async () => (await audit(world.socket, "hang").catch(() => [])).find((r) => r.status === "running" && step(r, "propagate") === undefined && step(r, "publish")?.status === "ok"),
    30_000,
    100,
    "the renewal to be waiting in propagate",
  );
  const [published] = cf.txt("_acme-challenge.hang.cf.test");
  expect(published).toBeDefined();
  daemon.kill();
  await daemon.server.exited;
  expect(cf.txt("_acme-challenge.hang.cf.test")).toEqual([published!]);
  // The entry keeps the [[dcv]] section as used, the token as where to read it, never its value.
  const journaled = readdirSync(join(world.stateDir, "journal")).map((n) => readFileSync(join(world.stateDir, "journal", n), "utf8"));
  expect(journaled).toHaveLength(1);
  expect(JSON.parse(journaled[0]!).section).toMatchObject({ name: "cf-hang", type: "cloudflare", options: { apiToken: { from: "env", name: "ROTA_E2E_CF_TOKEN" } } });
  expect(journaled[0]).not.toContain(CF_TOKEN);

  // The new start removes the old value before its own renewal publishes a new one.
  daemon = start();
  await daemon.waitForOutput("listening on");
  await waitFor(() => !cf.txt("_acme-challenge.hang.cf.test").includes(published!) || undefined, 10_000, 50, "the journal to remove the record");
  const row = (await audit(world.socket, "hang")).find((r) => r.id === running.id)!;
  expect(row.status).toBe("interrupted");
  // The token never reached the log.
  expect(daemon.output()).not.toContain(CF_TOKEN);
  expect(readFileSync(config, "utf8")).not.toContain(CF_TOKEN);
});

test("SIGTERM while Cloudflare still works on the create: the stop waits for its reply and removes the record it made", async () => {
  await daemon?.stop();
  config = world.writeConfig({
    certs: [{ id: "late", domains: ["late.cf.test"], dcv: "cf-hang" }],
    extra: dcvSections(`127.0.0.1:${world.pebble.dnsPort}`),
  });
  const hold = cf.holdNextCreate();
  const from = cf.requests.length;
  daemon = start();
  await hold.arrived;
  const stopping = daemon.stop();
  // Cloudflare answers once the renewal's remove has had its chance to list first: a remove that does not wait finds nothing.
  await Promise.race([stopping, Bun.sleep(500)]);
  hold.release();
  expect(await stopping).toBe(0);
  await hold.done;
  expect(cf.txt("_acme-challenge.late.cf.test")).toEqual([]);
  // The pre-publish list, the create, then remove's list and delete, each on the zone's records.
  expect(cf.requests.slice(from).filter((r) => r.path.endsWith("/dns_records") || r.method === "DELETE").map((r) => r.method)).toEqual(["GET", "POST", "GET", "DELETE"]);
}, 60_000);

test("SIGTERM while Namecheap still works on the setHosts: the stop waits for it, re-reads the zone and takes the record out", async () => {
  await daemon?.stop();
  config = world.writeConfig({
    certs: [{ id: "nclate", domains: ["late.nc.test"], dcv: "nc" }],
    extra: dcvSections(`127.0.0.1:${world.pebble.dnsPort}`),
  });
  const hold = nc.holdNextSetHosts();
  const from = nc.requests.length;
  daemon = start();
  await hold.arrived;
  const stopping = daemon.stop();
  await Promise.race([stopping, Bun.sleep(500)]);
  hold.release();
  expect(await stopping).toBe(0);
  await hold.done;
  expect(nc.zones.get("nc.test")!.hosts).toEqual(NC_HOSTS);
  expect(nc.requests.slice(from).map((r) => r.command.replace("namecheap.domains.dns.", ""))).toEqual(["getHosts", "setHosts", "getHosts", "setHosts"]);
}, 60_000);

test("SIGTERM while Namecheap holds the setHosts past remove's budget: the journal keeps the challenge, and once the write has landed the next start takes it out", async () => {
  await daemon?.stop();
  config = world.writeConfig({
    certs: [{ id: "ncheld", domains: ["held.nc.test"], dcv: "nc" }],
    extra: dcvSections(`127.0.0.1:${world.pebble.dnsPort}`),
  });
  const journalDir = join(world.stateDir, "journal");
  const hold = nc.holdNextSetHosts();
  const from = nc.requests.length;
  daemon = start();
  await hold.arrived;
  // Namecheap keeps the write past the stop's deadline: the worker cannot learn what became of it.
  await daemon.stop();
  // Not forgotten: a remove that could not read the zone after the write cleared nothing.
  expect(readdirSync(journalDir).filter((n) => n.endsWith(".json"))).toHaveLength(1);
  expect(nc.requests.slice(from).map((r) => r.command.replace("namecheap.domains.dns.", ""))).toEqual(["getHosts", "setHosts"]);
  // Namecheap carries it out after all, its client long gone.
  hold.release();
  await hold.done;
  expect(nc.zones.get("nc.test")!.hosts.filter((h) => h.name === "_acme-challenge.held")).toHaveLength(1);

  daemon = start();
  await daemon.waitForOutput("listening on");
  await waitFor(() => readdirSync(journalDir).filter((n) => n.endsWith(".json")).length === 0 || undefined, 15_000, 50, "the journal to remove the challenge");
  // The stopped renewal's row (the new start renews the cert too).
  const rows = await audit(world.socket, "ncheld");
  const stopped = rows.find((r) => r.events.some((e) => e.step === "remove" && e.status === "failed"));
  expect(stopped?.events.find((e) => e.step === "remove")).toMatchObject({
    status: "failed",
    message: "namecheap nc: nc.test: a setHosts sent earlier still awaits Namecheap's reply; nothing read or written until it ends",
  });
  await daemon.stop();
  daemon = undefined;
  expect(nc.zones.get("nc.test")!.hosts).toEqual(NC_HOSTS);
}, 60_000);
