/**
 * End to end: Sectigo certificates through Namecheap's SSL API (issue 13), with the compiled
 * binary. The fake Namecheap answers both command families on one endpoint; its fake Sectigo
 * resolves the `dns-cname` records at pebble-challtestsrv, where the Cloudflare and Namecheap DNS
 * fakes mirror what rota publishes. Every cert of the config renews at the start, each against a
 * certificate the test seeded (one scenario per cert); the stop-and-restart case comes last.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPublicKey, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cnameTargets, query } from "../../src/dns/query.ts";
import { cloudflareId, startFakeCloudflare, type FakeCloudflare } from "../fakes/cloudflare.ts";
import { startFakeNamecheapSsl, type FakeHost, type FakeNamecheap } from "../fakes/namecheap.ts";
import type { FakeSsl } from "../fakes/namecheap-ssl.ts";
import { makeTempDir, removeTempDir, runRota, startChallTestSrv, startDaemon, waitFor, type ChallTestSrv, type Daemon } from "../harness/index.ts";
import { audit, list, waitForRenewal, type AuditRow } from "./helpers.ts";

/** A key no other test uses: it must show up nowhere rota writes or answers. */
const NC_KEY = `nc-canary-${randomBytes(12).toString("hex")}`;
const CF_TOKEN = "cf-e2e-token-namecheap-ca";

/** The Namecheap-hosted zone, kept the way people keep theirs. */
const NC_HOSTS: FakeHost[] = [
  { name: "@", type: "A", address: "192.0.2.10", mxPref: "10", ttl: "1800" },
  { name: "@", type: "MX", address: "mx1.mail.example.", mxPref: "5", ttl: "3600" },
  { name: "@", type: "TXT", address: 'v=spf1 include:_spf.example.net ~all "quoted" +x=y é', mxPref: "10", ttl: "1800" },
  { name: "www", type: "CNAME", address: "nc.test.", mxPref: "10", ttl: "1800" },
];

let dir: string;
let ct: ChallTestSrv;
let cf: FakeCloudflare;
let nc: FakeNamecheap & { ssl: FakeSsl };
let daemon: Daemon | undefined;
let configPath: string;
const outputs: string[] = [];

const socket = () => join(dir, "rota.sock");
const certsDir = () => join(dir, "certs");
const stateDir = () => join(dir, "state");

interface CertSpec {
  id: string;
  domains: string[];
  ca?: string;
  dcv?: string;
  certificateId: number;
}

const CERTS: CertSpec[] = [
  { id: "shop", domains: ["shop.cf.test"], certificateId: 1001 },
  { id: "fresh", domains: ["fresh.cf.test"], certificateId: 2001 },
  { id: "multi", domains: ["a.cf.test", "b.cf.test", "c.cf.test"], certificateId: 1201 },
  { id: "wild", domains: ["*.wild.cf.test", "wild.cf.test"], certificateId: 1301 },
  { id: "ncshop", domains: ["shop.nc.test"], dcv: "ncdns", certificateId: 1401 },
  { id: "taken", domains: ["taken.cf.test"], certificateId: 3001 },
  { id: "plan", domains: ["plan.cf.test"], certificateId: 6001 },
  { id: "slow", domains: ["slow.cf.test"], ca: "nc-short", certificateId: 8001 },
  { id: "term", domains: ["term.cf.test"], certificateId: 8101 },
  { id: "f-badkey", domains: ["badkey.cf.test"], ca: "nc-badkey", certificateId: 1501 },
  { id: "f-badip", domains: ["badip.cf.test"], ca: "nc-badip", certificateId: 1502 },
  { id: "f-unknown", domains: ["unknown.cf.test"], certificateId: 7777 },
  { id: "f-500", domains: ["e500.cf.test"], certificateId: 1503 },
  { id: "f-html", domains: ["html.cf.test"], certificateId: 1504 },
  { id: "f-trunc", domains: ["trunc.cf.test"], certificateId: 1505 },
  { id: "f-noresult", domains: ["noresult.cf.test"], certificateId: 1506 },
  { id: "f-loop", domains: ["loop.cf.test"], certificateId: 5001 },
  { id: "f-noval", domains: ["noval.cf.test"], certificateId: 1507 },
  { id: "f-nocerts", domains: ["nocerts.cf.test"], certificateId: 1508 },
  { id: "f-badchain", domains: ["badchain.cf.test"], certificateId: 1509 },
];

function writeConfig(): string {
  const resolver = `127.0.0.1:${ct.dnsPort}`;
  const propagation = `propagation_resolvers = [${JSON.stringify(resolver)}]\nbootstrap_resolver = ${JSON.stringify(resolver)}\npropagation_interval_seconds = 1`;
  const ca = (name: string, extra = "") =>
    `[[ca]]\nname = "${name}"\ntype = "namecheap"\napi_url = ${JSON.stringify(nc.url)}\napi_user = "alice"\napi_key_env = "ROTA_E2E_NC_KEY"\nclient_ip = "203.0.113.7"\nadmin_email = "ops@example.test"\n${extra}`;
  const toml = [
    `[daemon]\nstate_dir = ${JSON.stringify(stateDir())}\nsocket = ${JSON.stringify(socket())}\ncheck_interval_seconds = 1\nmax_concurrent_renewals = 6`,
    ca("nc-ssl"),
    ca("nc-short", "issuance_timeout_seconds = 10"),
    ca("nc-badkey").replace("ROTA_E2E_NC_KEY", "ROTA_E2E_NC_BADKEY"),
    ca("nc-badip").replace("203.0.113.7", "198.51.100.9"),
    `[[dcv]]\nname = "cf"\ntype = "cloudflare"\napi_url = ${JSON.stringify(cf.url)}\napi_token_env = "ROTA_E2E_CF_TOKEN"\n${propagation}`,
    `[[dcv]]\nname = "ncdns"\ntype = "namecheap"\napi_url = ${JSON.stringify(nc.url)}\napi_user = "alice"\napi_key_env = "ROTA_E2E_NC_KEY"\nclient_ip = "203.0.113.7"\n${propagation}`,
    `[[install]]\nname = "files"\ntype = "filesystem"\ndir = ${JSON.stringify(certsDir())}`,
    ...CERTS.map(
      (c) =>
        `[[cert]]\nid = "${c.id}"\ndomains = ${JSON.stringify(c.domains)}\nca = "${c.ca ?? "nc-ssl"}"\ndcv = "${c.dcv ?? "cf"}"\ninstall = "files"\nkey_path = ${JSON.stringify(join(stateDir(), "keys", `${c.id}.key`))}\nnamecheap_certificate_id = ${c.certificateId}`,
    ),
  ].join("\n\n");
  const path = join(dir, "rota.toml");
  writeFileSync(path, toml);
  return path;
}

function start(): Daemon {
  const d = startDaemon(configPath, { env: { ROTA_E2E_NC_KEY: NC_KEY, ROTA_E2E_NC_BADKEY: "not-the-key", ROTA_E2E_CF_TOKEN: CF_TOKEN } });
  return d;
}

async function seed(ssl: FakeSsl): Promise<void> {
  const active = (id: number, names: string[], extra = {}) => ssl.seed({ id, status: "active", names, ...extra });
  await active(1001, ["shop.cf.test"]);
  await ssl.seed({ id: 2001, status: "newpurchase" });
  await active(1201, ["a.cf.test"]);
  await active(1301, ["wild.cf.test"]);
  await active(1401, ["shop.nc.test"]);
  await ssl.seed({ id: 3001, status: "purchased" });
  await active(6001, ["plan.cf.test"], { planEnd: new Date(Date.now() + 3_600_000) });
  await active(8001, ["slow.cf.test"], { never: true });
  await active(8101, ["term.cf.test"], { never: true });
  for (const id of [1501, 1502, 1503, 1504, 1505, 1506, 1507, 1508, 1509]) await active(id, ["fault.cf.test"]);
  await ssl.seed({ id: 5001, status: "replaced", replacedBy: 5002 });
  await ssl.seed({ id: 5002, status: "replaced", replacedBy: 5001 });
  ssl.faults.push(
    { certificateId: 1503, command: "namecheap.ssl.getInfo", kind: "http500" },
    { certificateId: 1504, command: "namecheap.ssl.getInfo", kind: "html" },
    { certificateId: 1505, command: "namecheap.ssl.getInfo", kind: "truncated" },
    { certificateId: 1506, command: "namecheap.ssl.getInfo", kind: "no-result" },
    { certificateId: 1507, command: "namecheap.ssl.reissue", kind: "value-unavailable" },
    { certificateId: 1508, command: "namecheap.ssl.getInfo", kind: "no-certificates" },
    { certificateId: 1509, command: "namecheap.ssl.getInfo", kind: "bad-chain" },
  );
}

beforeAll(async () => {
  dir = makeTempDir("rota-e2e-nc-ca-");
  ct = await startChallTestSrv({ dir });
  const mirror = { setTxt: ct.setTxt, clearTxt: ct.clearTxt, setCname: ct.setCname, clearCname: ct.clearCname };
  cf = startFakeCloudflare({ token: CF_TOKEN, zones: [{ id: cloudflareId(), name: "cf.test" }], mirror });
  nc = await startFakeNamecheapSsl({ apiKey: NC_KEY, mirror });
  nc.ssl.resolver = { host: "127.0.0.1", port: ct.dnsPort };
  nc.zones.set("nc.test", { emailType: "FWD", isUsingOurDns: true, hosts: NC_HOSTS.map((h) => ({ ...h })) });
  await seed(nc.ssl);
  configPath = writeConfig();
  daemon = start();
});

afterAll(async () => {
  if (daemon) outputs.push(daemon.output());
  await daemon?.stop();
  await cf?.stop();
  await nc?.stop();
  await ct?.stop();
  if (dir) removeTempDir(dir);
});

const step = (row: AuditRow, name: string) => row.events.find((e) => e.step === name);
const sslCalls = (pred: (r: FakeNamecheap["requests"][number]) => boolean = () => true) => nc.requests.filter((r) => r.command.startsWith("namecheap.ssl.") && pred(r));
/** The ids in a line of reissues that started at `origin`. */
const lineOf = (origin: number) => new Set([origin, ...[...nc.ssl.certs.values()].filter((c) => c.origin === origin).map((c) => c.id)]);
const stateOf = (certId: string) => JSON.parse(readFileSync(join(stateDir(), "namecheap", "nc-ssl", `${certId}.json`), "utf8"));

async function cnameAt(name: string): Promise<string[]> {
  return cnameTargets(await query({ host: "127.0.0.1", port: ct.dnsPort }, name, "CNAME", { recursive: false, timeoutMs: 2_000 }), name);
}

function openssl(args: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

const sans = (certId: string) => openssl(["x509", "-in", join(certsDir(), certId, "cert.pem"), "-noout", "-ext", "subjectAltName"]).out;

test("1. a reissue: the steps in order, the requests Namecheap saw, a chain to the fake's root, no CNAME left; a second forced renewal reissues the new id", async () => {
  const row = await waitForRenewal(socket(), "shop", () => true, 90_000);
  expect(row.error).toBeNull();
  expect(row.status).toBe("succeeded");
  const order = row.events.map((e) => e.step);
  const at = (s: string) => order.indexOf(s);
  expect(at("csr")).toBeLessThan(at("submit"));
  expect(at("submit")).toBeLessThan(at("publish"));
  expect(at("publish")).toBeLessThan(at("propagate"));
  expect(at("propagate")).toBeLessThan(at("await_issuance"));
  expect(at("await_issuance")).toBeLessThan(at("remove"));
  expect(at("remove")).toBeLessThan(at("install"));
  const newId = stateOf("shop").current_id as number;
  expect(newId).not.toBe(1001);
  expect(step(row, "submit")?.message).toBe(`reissued certificate 1001 (active) as ${newId}; 1 CNAME to publish`);
  expect(step(row, "publish")?.message).toMatch(new RegExp(`^published dns-cname at _[0-9a-f]{32}\\.shop\\.cf\\.test → [0-9a-f]{32}\\.[0-9a-f]{32}\\.[0-9a-f]+\\.sectigo\\.com$`));
  expect(step(row, "propagate")?.status).toBe("ok");
  expect(step(row, "await_issuance")?.message).toMatch(new RegExp(`^certificate ${newId} active after \\d+ checks? \\(\\d+ s\\); asked Sectigo to re-check once$`));

  const mine = sslCalls((r) => lineOf(1001).has(Number(r.params.CertificateID)));
  const seen = mine.map((r) => `${r.command.replace("namecheap.ssl.", "")}(${r.params.CertificateID})`);
  expect(seen.slice(0, 3)).toEqual(["getInfo(1001)", "reissue(1001)", `resendApproverEmail(${newId})`]);
  expect(seen.slice(3).every((s) => s === `getInfo(${newId})`)).toBe(true);
  expect(seen.length).toBeGreaterThan(3);
  const reissue = mine[1]!;
  expect(reissue.method).toBe("POST");
  expect(reissue.params).toMatchObject({ DNSDCValidation: "true", AdminEmailAddress: "ops@example.test", WebServerType: "other", ApiUser: "alice", UserName: "alice", ClientIp: "203.0.113.7" });
  // The CSR is of key_path's key, and arrived byte for byte (its `+` and `/` survived the form encoding).
  const p = Bun.spawnSync(["openssl", "req", "-noout", "-pubkey", "-verify"], { stdin: new TextEncoder().encode(reissue.params.csr), stdout: "pipe", stderr: "pipe" });
  expect(p.exitCode).toBe(0);
  const fromKey = createPublicKey(readFileSync(join(stateDir(), "keys", "shop.key"), "utf8")).export({ type: "spki", format: "pem" }).toString();
  expect(p.stdout.toString().trim()).toBe(fromKey.trim());

  // The chain verifies against the fake Sectigo's root; the root itself is not served.
  writeFileSync(join(dir, "fake-root.pem"), nc.ssl.rootPem);
  const verify = openssl(["verify", "-CAfile", join(dir, "fake-root.pem"), "-untrusted", join(certsDir(), "shop", "chain.pem"), join(certsDir(), "shop", "cert.pem")]);
  expect(verify.out).toContain(": OK");
  expect(readFileSync(join(certsDir(), "shop", "chain.pem"), "utf8").match(/BEGIN CERTIFICATE/g)).toHaveLength(1);

  // No CNAME behind, at Cloudflare or in DNS.
  const cname = /dns-cname at (\S+)/.exec(step(row, "publish")!.message)![1]!;
  expect(cf.cname(cname)).toEqual([]);
  expect(await cnameAt(cname)).toEqual([]);
  expect(stateOf("shop")).toEqual({ configured_id: 1001, current_id: newId, pending: null });

  const forced = await runRota(["renew", "shop", "--force", "--wait", "--socket", socket()], { timeoutMs: 90_000 });
  expect(forced.code).toBe(0);
  const again = (await audit(socket(), "shop"))[0]!;
  expect(again.status).toBe("succeeded");
  expect(step(again, "submit")?.message).toMatch(new RegExp(`^reissued certificate ${newId} \\(active\\) as \\d+; 1 CNAME to publish$`));
});

test("2. variants: activating a new purchase, three names, a wildcard with its base, and the whole path through Namecheap DNS with the zone's records intact", async () => {
  const fresh = await waitForRenewal(socket(), "fresh", () => true, 90_000);
  expect(fresh.error).toBeNull();
  expect(step(fresh, "submit")?.message).toBe("activated certificate 2001 (newpurchase); 1 CNAME to publish");
  expect(sslCalls((r) => r.command === "namecheap.ssl.activate").map((r) => r.params.CertificateID)).toEqual(["2001"]);

  const multi = await waitForRenewal(socket(), "multi", () => true, 90_000);
  expect(multi.error).toBeNull();
  const sent = sslCalls((r) => r.command === "namecheap.ssl.reissue" && r.params.CertificateID === "1201")[0]!;
  expect(sent.params).toMatchObject({ DNSNames: "b.cf.test,c.cf.test", DNSApproverEmails: "CNAMECSRHASH,CNAMECSRHASH" });
  expect(step(multi, "submit")?.message).toContain("3 CNAMEs to publish");
  for (const n of ["a", "b", "c"]) expect(sans("multi")).toContain(`DNS:${n}.cf.test`);

  const wild = await waitForRenewal(socket(), "wild", () => true, 90_000);
  expect(wild.error).toBeNull();
  expect(step(wild, "submit")?.message).toContain("; 1 CNAME to publish");
  expect(sans("wild")).toContain("DNS:*.wild.cf.test");
  const made = cf.requests.filter((r) => r.method === "POST" && (r.body as { type?: string }).type === "CNAME");
  expect(made.every((r) => (r.body as { proxied?: boolean; ttl?: number }).proxied === false && (r.body as { ttl?: number }).ttl === 60)).toBe(true);

  const ncshop = await waitForRenewal(socket(), "ncshop", () => true, 90_000);
  expect(ncshop.error).toBeNull();
  expect(step(ncshop, "propagate")?.status).toBe("ok");
  const zone = nc.zones.get("nc.test")!;
  expect(zone.hosts).toEqual(NC_HOSTS);
  expect(zone.emailType).toBe("FWD");
  const sets = nc.requests.filter((r) => r.command === "namecheap.domains.dns.setHosts");
  expect(sets.length).toBe(2);
  expect(sets[0]!.params).toMatchObject({ HostName5: expect.stringMatching(/^_[0-9a-f]{32}\.shop$/), RecordType5: "CNAME", TTL5: "60" });
});

const FAULTS: [string, RegExp][] = [
  ["f-badkey", /^namecheap nc-badkey: namecheap\.ssl\.getInfo: error 1011102: Parameter APIKey is invalid$/],
  ["f-badip", /^namecheap nc-badip: namecheap\.ssl\.getInfo: error 1011150: Invalid request IP: 198\.51\.100\.9; allow-list client_ip 198\.51\.100\.9 in Namecheap's API settings$/],
  ["f-unknown", /^namecheap nc-ssl: namecheap\.ssl\.getInfo: error 2011294: SSL certificate 7777 not found$/],
  ["f-500", /^namecheap nc-ssl: namecheap\.ssl\.getInfo: HTTP 500 Internal Server Error$/],
  ["f-html", /^namecheap nc-ssl: namecheap\.ssl\.getInfo: the reply is not XML/],
  ["f-trunc", /^namecheap nc-ssl: namecheap\.ssl\.getInfo: the reply is not XML/],
  ["f-noresult", /^namecheap nc-ssl: namecheap\.ssl\.getInfo: the reply has no SSLGetInfoResult$/],
  ["f-loop", /^namecheap nc-ssl: ReplacedBy loops back to certificate 5001 \(5001 → 5002 → 5001\)$/],
  ["f-noval", /^namecheap nc-ssl: namecheap\.ssl\.reissue: certificate \d+: DNSDCValidation@ValueAvailable is false \(no CNAME to publish\)$/],
  ["f-nocerts", /^namecheap nc-ssl: certificate \d+ is active but the reply carries no certificate/],
  ["f-badchain", /^verify: certificate is not signed by the chain the CA returned$/],
];

test("3. each API fault: a failed row with its text, nothing installed, no CNAME behind", async () => {
  for (const [certId, text] of FAULTS) {
    const row = await waitForRenewal(socket(), certId, () => true, 90_000);
    expect({ certId, status: row.status }).toEqual({ certId, status: "failed" });
    expect({ certId, error: row.error }).toEqual({ certId, error: expect.stringMatching(text) });
    const failed = row.events.find((e) => e.status === "failed");
    expect(failed?.message).toMatch(text);
    expect(step(row, "install")).toBeUndefined();
  }
  // Every CNAME published for a fault was removed.
  expect(cf.records().filter((r) => r.type === "CNAME" && /(noval|nocerts|badchain)\.cf\.test$/.test(r.name))).toEqual([]);
  const cooled = (await list(socket())).filter((c) => c.id.startsWith("f-"));
  // Each waits out a cooldown before its next try; a wrong key (noRetry) waits the longest one at once.
  expect(cooled.every((c) => c.retry_at !== null)).toBe(true);
  const badKey = cooled.find((c) => c.id === "f-badkey")!;
  const wait = Date.parse(badKey.retry_at!) - Date.now();
  expect(wait).toBeGreaterThan(86_400_000 - 120_000);
  expect(wait).toBeLessThanOrEqual(86_400_000);
});

test("4. a timeout fails at about 10 s, the CNAME removed and the request kept; once Sectigo validates, --force resumes it: no second reissue, one resend, installed", async () => {
  const row = await waitForRenewal(socket(), "slow", () => true, 90_000);
  expect(row.status).toBe("failed");
  const state = JSON.parse(readFileSync(join(stateDir(), "namecheap", "nc-short", "slow.json"), "utf8"));
  const id = state.current_id as number;
  expect(row.error).toBe(`namecheap nc-short: certificate ${id} still purchased after 10 s; the request stays open at Namecheap and the next renewal resumes it`);
  const waited = step(row, "await_issuance")!;
  expect(waited.status).toBe("failed");
  expect(waited.duration_ms).toBeGreaterThan(9_000);
  expect(waited.duration_ms).toBeLessThan(20_000);
  expect(step(row, "remove")?.status).toBe("ok");
  expect(cf.records().filter((r) => r.name.endsWith("slow.cf.test"))).toEqual([]);
  expect(state.pending).toMatchObject({ from_id: 8001, certificate_id: id });

  nc.ssl.certs.get(id)!.never = false;
  const before = sslCalls().length;
  const forced = await runRota(["renew", "slow", "--force", "--wait", "--socket", socket()], { timeoutMs: 90_000 });
  expect(forced.code).toBe(0);
  const resumed = (await audit(socket(), "slow"))[0]!;
  expect(resumed.status).toBe("succeeded");
  expect(step(resumed, "submit")?.message).toBe(`resumed the request pending on certificate ${id}; 1 CNAME to publish`);
  const calls = sslCalls().slice(before).filter((r) => lineOf(8001).has(Number(r.params.CertificateID)));
  expect(calls.filter((r) => r.command === "namecheap.ssl.reissue")).toEqual([]);
  expect(calls.filter((r) => r.command === "namecheap.ssl.resendApproverEmail")).toHaveLength(1);
  expect(sslCalls((r) => r.command === "namecheap.ssl.reissue" && lineOf(8001).has(Number(r.params.CertificateID)))).toHaveLength(1);
});

test("6. a request rota did not start, and a plan used up: the no-retry errors", async () => {
  const taken = await waitForRenewal(socket(), "taken", () => true, 90_000);
  expect(taken.error).toBe("namecheap nc-ssl: certificate 3001 has a request pending that rota did not start; finish or cancel it at Namecheap, then rota renew taken --force");
  const plan = await waitForRenewal(socket(), "plan", (r) => r.status === "succeeded", 90_000);
  expect(plan.error).toBeNull();
  const id = stateOf("plan").current_id as number;
  expect(stateOf("plan").plan_used_up).toBe(id);
  await runRota(["renew", "plan", "--force", "--wait", "--socket", socket()], { timeoutMs: 60_000 });
  const refused = (await audit(socket(), "plan"))[0]!;
  expect(refused.status).toBe("failed");
  expect(refused.error).toBe(`namecheap nc-ssl: the Namecheap plan behind certificate ${id} is used up (the last reissue gained no time); renew it at Namecheap: rota never buys`);
});

test("7. Sectigo's www. name is in the certificate, and ten 1-s ticks start no new renewal", async () => {
  expect(sans("shop")).toContain("DNS:www.shop.cf.test");
  expect(sans("shop")).toContain("DNS:shop.cf.test");
  const before = (await audit(socket(), "shop")).length;
  const ticks = daemon!.output().length;
  await Bun.sleep(10_500);
  expect((await audit(socket(), "shop")).length).toBe(before);
  expect(daemon!.output().slice(ticks)).not.toContain("names changed");
});

test("5. SIGTERM during await_issuance: out within 5 s, the row interrupted and the CNAME gone; after a restart the renewal resumes without a new reissue and installs", async () => {
  await waitFor(() => sslCalls((r) => r.command === "namecheap.ssl.resendApproverEmail" && lineOf(8101).has(Number(r.params.CertificateID))).length > 0, 90_000, 100, "term to reach await_issuance");
  const id = stateOf("term").current_id as number;
  outputs.push(daemon!.output());
  const t0 = performance.now();
  await daemon!.stop("SIGTERM");
  expect(performance.now() - t0).toBeLessThan(5_000);
  expect(cf.records().filter((r) => r.name.endsWith("term.cf.test"))).toEqual([]);
  expect(stateOf("term").pending).toMatchObject({ certificate_id: id });

  nc.ssl.certs.get(id)!.never = false;
  daemon = start();
  const done = await waitForRenewal(socket(), "term", (r) => r.status === "succeeded", 90_000);
  const rows = await audit(socket(), "term");
  expect(rows.find((r) => r.status === "interrupted")).toBeDefined();
  expect(step(done, "submit")?.message).toBe(`resumed the request pending on certificate ${id}; 1 CNAME to publish`);
  expect(sslCalls((r) => r.command === "namecheap.ssl.reissue" && lineOf(8101).has(Number(r.params.CertificateID)))).toHaveLength(1);
});

test("8. the API key appears in no log line, audit row or API reply", async () => {
  const replies = [JSON.stringify(await list(socket()))];
  for (const c of CERTS) replies.push(JSON.stringify(await audit(socket(), c.id)));
  const r = await runRota(["status", "--json", "--socket", socket()]);
  replies.push(r.stdout, r.stderr);
  const everything = [...outputs, daemon!.output(), ...replies].join("\n");
  expect(everything.length).toBeGreaterThan(1000);
  expect(everything).not.toContain(NC_KEY);
  // Every call sent it, in the body only.
  expect(nc.requests.every((q) => q.method === "POST" && (q.params.ApiKey === NC_KEY || q.params.ApiKey === "not-the-key"))).toBe(true);
});
