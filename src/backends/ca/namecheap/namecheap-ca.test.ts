/**
 * @module NamecheapCa over the fake SSL API, its fake Sectigo resolving CNAMEs at a test DNS
 * server: the requests sent, the state file across renewals, the status → action table in
 * practice, the poll, the faults, and what a stop or a timeout leaves for the next renewal.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Cancel, Clock } from "../../../clock.ts";
import { createCsr } from "../../../crypto/csr.ts";
import { generateKeyPem } from "../../../crypto/keys.ts";
import { parseCert, splitPem } from "../../../crypto/x509.ts";
import { describeError, RotaError } from "../../../errors.ts";
import { createLogger } from "../../../log.ts";
import { TestDnsServer } from "../../../testing/dns-server.ts";
import { startFakeNamecheapSsl, type FakeNamecheap } from "../../../../test/fakes/namecheap.ts";
import type { FakeSsl } from "../../../../test/fakes/namecheap-ssl.ts";
import { isCheckable, type CABackend, type Checkable, type DcvChallenge } from "../../types.ts";
import type { NamecheapCaConfig } from "./config.ts";
import { createNamecheapCa } from "./namecheap-ca.ts";

/** Time moves only by the backend's own waits, each one passing at once: a 10-minute poll takes milliseconds. */
class SkippingClock implements Clock {
  t = Date.parse("2030-01-01T00:00:00Z");
  /** Runs once, at the next wait: something the world does between two of the backend's checks. */
  beforeNextWait: (() => void) | undefined;
  now(): Date {
    return new Date(this.t);
  }
  setTimeout(fn: () => void, ms: number): Cancel {
    const then = this.beforeNextWait;
    this.beforeNextWait = undefined;
    then?.();
    this.t += ms;
    const h = setTimeout(fn, 0);
    return () => clearTimeout(h);
  }
  setInterval(): Cancel {
    throw new Error("not used");
  }
}

const KEY_ENV = "ROTA_TEST_NC_SSL_KEY";
let fake: FakeNamecheap & { ssl: FakeSsl };
let dns: TestDnsServer;
let stateDir: string;
let clock: SkippingClock;
let ca: CABackend;
const signal = new AbortController().signal;

function config(over: Partial<NamecheapCaConfig> = {}): NamecheapCaConfig {
  return {
    apiUser: fake.apiUser,
    username: fake.apiUser,
    apiKey: { from: "env", name: KEY_ENV },
    clientIp: fake.clientIp,
    apiUrl: fake.url,
    adminEmail: "ops@example.com",
    webServerType: "other",
    issuanceTimeoutSeconds: 600,
    ...over,
  };
}

function make(over: Partial<NamecheapCaConfig> = {}): CABackend {
  return createNamecheapCa("nc-ssl", config(over), { stateDir, clock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] });
}

/** What publishing does, in the test DNS the fake Sectigo asks. */
function publish(challenges: DcvChallenge[]): void {
  for (const ch of challenges) if (ch.kind === "dns-cname") dns.records.push({ name: ch.recordName, type: "CNAME", data: ch.target });
}

const commands = () => fake.requests.map((r) => `${r.command.replace("namecheap.ssl.", "")}(${r.params.CertificateID})`);
const stateOf = (certId = "shop") => JSON.parse(readFileSync(join(stateDir, "namecheap", "nc-ssl", `${certId}.json`), "utf8"));
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as RotaError);

let key: string;
let csr: string;

beforeAll(async () => {
  fake = await startFakeNamecheapSsl();
  process.env[KEY_ENV] = fake.apiKey;
  dns = await new TestDnsServer("127.0.0.1", "example.com").start();
  fake.ssl.resolver = { host: "127.0.0.1", port: dns.port };
  key = generateKeyPem("ecdsa-p256");
  csr = await createCsr(["shop.example.com"], key);
});
afterAll(async () => {
  await fake.stop();
  await dns.stop();
});

beforeEach(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "rota-nc-ssl-"));
  clock = new SkippingClock();
  fake.requests.length = 0;
  fake.ssl.certs.clear();
  fake.ssl.faults.length = 0;
  fake.ssl.mode = "normal";
  dns.records = [];
  await fake.ssl.seed({ id: 1001, status: "active", names: ["shop.example.com"] });
  await fake.ssl.seed({ id: 2001, status: "newpurchase" });
  await fake.ssl.seed({ id: 3001, status: "purchased" });
  ca = make();
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const request = (certificateId = 1001, domains = ["shop.example.com"], csrPem = csr) => ({ certId: "shop", domains, csrPem, preferredKinds: [], certOptions: { certificateId } });

describe("namecheap CA", () => {
  test("a reissue: getInfo, a POSTed reissue with the CSR byte for byte, one CNAME; then one resend and getInfo until active", async () => {
    const sub = await ca.submit(request(), signal);
    expect(sub.summary).toMatch(/^reissued certificate 1001 \(active\) as \d+; 1 CNAME to publish$/);
    const newId = Number(/as (\d+)/.exec(sub.summary ?? "")?.[1]);
    expect(commands()).toEqual(["getInfo(1001)", "reissue(1001)"]);
    const sent = fake.requests[1]!;
    expect(sent.method).toBe("POST");
    expect(sent.params).toMatchObject({ csr, AdminEmailAddress: "ops@example.com", WebServerType: "other", DNSDCValidation: "true", ClientIp: "203.0.113.7" });
    expect(sent.params.DNSNames).toBeUndefined();
    expect(sub.challenges).toEqual([{ kind: "dns-cname", recordName: expect.stringMatching(/^_[0-9a-f]{32}\.shop\.example\.com$/), target: expect.stringMatching(/^[0-9a-f]{32}\.[0-9a-f]{32}\.[0-9a-f]+\.sectigo\.com$/), ttl: 60 }]);
    const file = join(stateDir, "namecheap", "nc-ssl", "shop.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(stateOf()).toMatchObject({ configured_id: 1001, current_id: newId, pending: { from_id: 1001, command: "reissue", csr, certificate_id: newId } });

    // Nothing published yet: the poll waits; published, the next check finds it active.
    clock.beforeNextWait = () => publish(sub.challenges);
    const done = await ca.awaitIssuance(sub.order, signal);
    expect(done.note).toMatch(new RegExp(`^certificate ${newId} active after \\d+ checks? \\(\\d+ s\\); asked Sectigo to re-check once$`));
    expect(commands().slice(2, 4)).toEqual([`resendApproverEmail(${newId})`, `getInfo(${newId})`]);
    expect(fake.requests.slice(3).every((r) => r.command === "namecheap.ssl.getInfo" && r.params.ReturnCertificate === "true" && r.params.ReturnType === "Individual")).toBe(true);
    // The chain: the intermediate only (the root dropped), though the reply listed the root first.
    const chain = splitPem(done.chainPem);
    expect(chain).toHaveLength(1);
    const [leaf, inter] = [await parseCert(done.leafPem), await parseCert(chain[0]!)];
    expect(leaf.issuer).toBe(inter.subject);
    expect(inter.issuer).not.toBe(inter.subject);
    expect(stateOf()).toEqual({ configured_id: 1001, current_id: newId, pending: null });

    // The next renewal reissues the new id.
    fake.requests.length = 0;
    const again = await ca.submit(request(), signal);
    expect(again.summary).toMatch(new RegExp(`^reissued certificate ${newId} \\(active\\) as \\d+`));
    expect(commands()).toEqual([`getInfo(${newId})`, `reissue(${newId})`]);
  });

  test("activate from newpurchase; three names send DNSNames and a CNAMECSRHASH each; a wildcard and its base share one CNAME", async () => {
    const names = ["example.com", "*.example.com", "api.example.com"];
    const three = await createCsr(names, key);
    const sub = await ca.submit(request(2001, names, three), signal);
    expect(sub.summary).toBe("activated certificate 2001 (newpurchase); 2 CNAMEs to publish");
    expect(fake.requests[1]?.params).toMatchObject({ CertificateID: "2001", DNSNames: "*.example.com,api.example.com", DNSApproverEmails: "CNAMECSRHASH,CNAMECSRHASH" });
    expect(new Set(sub.challenges.map((c) => (c.kind === "dns-cname" ? c.recordName.replace(/^_[0-9a-f]+\./, "") : "")))).toEqual(new Set(["example.com", "api.example.com"]));
  });

  test("a request rota did not start is refused without retry, and nothing is sent", async () => {
    const err = await failure(ca.submit(request(3001), signal));
    expect(describeError(err)).toBe("namecheap nc-ssl: certificate 3001 has a request pending that rota did not start; finish or cancel it at Namecheap, then rota renew shop --force");
    expect(err?.noRetry).toBe(true);
    expect(commands()).toEqual(["getInfo(3001)"]);
  });

  test("a timeout keeps the request pending; the next renewal resumes it without a new reissue, and one collects what was issued meanwhile", async () => {
    fake.ssl.mode = "never";
    const short = make({ issuanceTimeoutSeconds: 10 });
    const sub = await short.submit(request(), signal);
    const started = clock.now().getTime();
    const err = await failure(short.awaitIssuance(sub.order, signal));
    expect(err?.code).toBe("timeout");
    const id = stateOf().current_id;
    expect(describeError(err)).toBe(`namecheap nc-ssl: certificate ${id} still purchased after 10 s; the request stays open at Namecheap and the next renewal resumes it`);
    expect(clock.now().getTime() - started).toBe(10_000);
    // 2 s, ×1.5 (5 s, 9.5 s), then the deadline: four checks.
    expect(commands().filter((c) => c === `getInfo(${id})`)).toHaveLength(4);
    expect(stateOf().pending.certificate_id).toBe(id);

    fake.requests.length = 0;
    const resumed = await short.submit(request(), signal);
    expect(resumed.summary).toBe(`resumed the request pending on certificate ${id}; 1 CNAME to publish`);
    expect(resumed.challenges).toEqual(sub.challenges);
    expect(commands()).toEqual([`getInfo(${id})`]);

    // Issued while rota was away: nothing to publish, no resend, collected at the first check.
    fake.ssl.certs.get(id)!.status = "active";
    fake.ssl.certs.get(id)!.leafPem = (await fake.ssl.certs.get(1001)!.leafPem)!;
    fake.requests.length = 0;
    const away = await short.submit(request(), signal);
    expect(away).toMatchObject({ challenges: [], summary: `certificate ${id} was issued while rota was away; nothing to publish` });
    const done = await short.awaitIssuance(away.order, signal);
    expect(done.note).toBe(`certificate ${id} active after 1 check (0 s)`);
    expect(commands()).toEqual([`getInfo(${id})`, `getInfo(${id})`]);
  });

  test("a request pending for a key this renewal does not hold (a fresh key since): resumed, its certificate is not taken; issued meanwhile, it is reissued for this key", async () => {
    fake.ssl.mode = "never";
    const short = make({ issuanceTimeoutSeconds: 10 });
    const sub = await short.submit(request(), signal);
    await failure(short.awaitIssuance(sub.order, signal));
    const id = stateOf().current_id as number;
    const startedAt = stateOf().pending.started_at as string;
    const otherCsr = await createCsr(["shop.example.com"], generateKeyPem("ecdsa-p256"));

    // Still purchased: its CNAME goes up again so Sectigo can finish it, but what it issues fits the old key only.
    const resumed = await short.submit(request(1001, ["shop.example.com"], otherCsr), signal);
    expect(resumed.summary).toBe(`resumed the request pending on certificate ${id}; 1 CNAME to publish (the request is for another key: its certificate will not be installed)`);
    expect(resumed.challenges).toEqual(sub.challenges);
    fake.ssl.mode = "normal";
    publish(resumed.challenges);
    const err = await failure(short.awaitIssuance(resumed.order, signal));
    expect(describeError(err)).toBe(`namecheap nc-ssl: certificate ${id} was issued for the request started ${startedAt}, which is for another key; the next renewal reissues it`);
    expect(err?.noRetry).toBe(false);
    expect(stateOf()).toEqual({ configured_id: 1001, current_id: id, pending: null });

    // Issued while rota was away, for a key it no longer holds: reissued at once, not collected.
    fake.ssl.mode = "never";
    const again = await short.submit(request(), signal);
    await failure(short.awaitIssuance(again.order, signal));
    const next = stateOf().current_id as number;
    fake.ssl.certs.get(next)!.status = "active";
    fake.ssl.certs.get(next)!.leafPem = fake.ssl.certs.get(1001)!.leafPem!;
    fake.requests.length = 0;
    const fresh = await short.submit(request(1001, ["shop.example.com"], otherCsr), signal);
    const newest = stateOf().current_id as number;
    expect(fresh.summary).toBe(`reissued certificate ${next} (active) as ${newest}; 1 CNAME to publish (the certificate issued while rota was away is for another key)`);
    expect(commands()).toEqual([`getInfo(${next})`, `reissue(${next})`]);
    expect(fake.requests[1]!.params.csr).toBe(otherCsr);
  });

  test("a request pending for other names (the cert's domains edited since): resumed, its certificate is not taken", async () => {
    fake.ssl.mode = "never";
    const short = make({ issuanceTimeoutSeconds: 10 });
    await failure(short.awaitIssuance((await short.submit(request(), signal)).order, signal));
    const id = stateOf().current_id as number;
    const startedAt = stateOf().pending.started_at as string;
    const domains = ["shop.example.com", "api.example.com"];
    const resumed = await short.submit(request(1001, domains, await createCsr(domains, key)), signal);
    expect(resumed.summary).toBe(`resumed the request pending on certificate ${id}; 1 CNAME to publish (the request is for other names (shop.example.com): its certificate will not be installed)`);
    fake.ssl.mode = "normal";
    publish(resumed.challenges);
    const err = await failure(short.awaitIssuance(resumed.order, signal));
    expect(describeError(err)).toBe(`namecheap nc-ssl: certificate ${id} was issued for the request started ${startedAt}, which is for other names (shop.example.com); the next renewal reissues it`);
  });

  test("a cancel during the poll rejects as aborted at once and keeps the request pending", async () => {
    fake.ssl.mode = "never";
    const sub = await ca.submit(request(), signal);
    const stop = new AbortController();
    clock.beforeNextWait = () => stop.abort(new Error("daemon stopping"));
    const err = await failure(ca.awaitIssuance(sub.order, stop.signal));
    expect(err?.code).toBe("aborted");
    expect(describeError(err)).toMatch(/^namecheap nc-ssl: cancelled/);
    expect(stateOf().pending.certificate_id).toBe(stateOf().current_id);
  });

  test("ReplacedBy: at most 20 links are followed (issue 13 §3); a 21st is refused without retry", async () => {
    for (let i = 0; i < 21; i++) await fake.ssl.seed({ id: 6100 + i, status: "replaced", replacedBy: 6101 + i });
    await fake.ssl.seed({ id: 6121, status: "newpurchase" });
    // 6101 → … → 6121: twenty links.
    const sub = await ca.submit({ ...request(6101), certId: "twenty" }, signal);
    expect(sub.summary).toMatch(/^activated certificate 6121 \(newpurchase\)/);
    // 6100 → … → 6121: twenty-one.
    const err = await failure(ca.submit({ ...request(6100), certId: "more" }, signal));
    expect(describeError(err)).toBe("namecheap nc-ssl: more than 20 ReplacedBy links from certificate 6100");
    expect(err?.noRetry).toBe(true);
  });

  test("ReplacedBy is followed to the certificate that stands; a loop is refused without retry", async () => {
    await fake.ssl.seed({ id: 4001, status: "replaced", replacedBy: 4002 });
    await fake.ssl.seed({ id: 4002, status: "replaced", replacedBy: 4003 });
    await fake.ssl.seed({ id: 4003, status: "newpurchase" });
    const sub = await ca.submit(request(4001), signal);
    expect(sub.summary).toMatch(/^activated certificate 4003 \(newpurchase\)/);
    expect(commands()).toEqual(["getInfo(4001)", "getInfo(4002)", "getInfo(4003)", "activate(4003)"]);

    await fake.ssl.seed({ id: 5001, status: "replaced", replacedBy: 5002 });
    await fake.ssl.seed({ id: 5002, status: "replaced", replacedBy: 5001 });
    const err = await failure(ca.submit({ ...request(5001), certId: "loop" }, signal));
    expect(describeError(err)).toBe("namecheap nc-ssl: ReplacedBy loops back to certificate 5001 (5001 → 5002 → 5001)");
    expect(err?.noRetry).toBe(true);
  });

  const apiErrors: [string, () => void, string, boolean][] = [
    ["a wrong key", () => fake.ssl.faults.push({ kind: "error", number: "1011102", text: "Parameter APIKey is invalid" }), "namecheap nc-ssl: namecheap.ssl.getInfo: error 1011102: Parameter APIKey is invalid", true],
    [
      "an IP not allow-listed",
      () => fake.ssl.faults.push({ kind: "error", number: "1011150", text: "Invalid request IP: 198.51.100.9" }),
      "namecheap nc-ssl: namecheap.ssl.getInfo: error 1011150: Invalid request IP: 198.51.100.9; allow-list client_ip 203.0.113.7 in Namecheap's API settings",
      true,
    ],
    ["an unknown id", () => fake.ssl.certs.delete(1001), "namecheap nc-ssl: namecheap.ssl.getInfo: error 2011294: SSL certificate 1001 not found", true],
    ["another API error", () => fake.ssl.faults.push({ kind: "error", number: "5050900", text: "Unhandled exception" }), "namecheap nc-ssl: namecheap.ssl.getInfo: error 5050900: Unhandled exception", false],
    ["HTTP 500", () => fake.ssl.faults.push({ kind: "http500" }), "namecheap nc-ssl: namecheap.ssl.getInfo: HTTP 500 Internal Server Error", false],
    ["an HTML page", () => fake.ssl.faults.push({ kind: "html" }), "namecheap nc-ssl: namecheap.ssl.getInfo: the reply is not XML", false],
    ["a cut-off reply", () => fake.ssl.faults.push({ kind: "truncated" }), "namecheap nc-ssl: namecheap.ssl.getInfo: the reply is not XML", false],
    ["OK without the result", () => fake.ssl.faults.push({ kind: "no-result" }), "namecheap nc-ssl: namecheap.ssl.getInfo: the reply has no SSLGetInfoResult", false],
    [
      "ValueAvailable false",
      () => fake.ssl.faults.push({ command: "namecheap.ssl.reissue", kind: "value-unavailable" }),
      "namecheap nc-ssl: namecheap.ssl.reissue: certificate 90",
      false,
    ],
  ];
  for (const [what, arrange, message, noRetry] of apiErrors) {
    test(`${what}: a clear error${noRetry ? ", no retry" : ""}, without the API key`, async () => {
      arrange();
      const err = await failure(ca.submit(request(), signal));
      expect(describeError(err)).toContain(message);
      expect(err?.noRetry).toBe(noRetry);
      expect(describeError(err)).not.toContain(fake.apiKey);
    });
  }

  test("a 429 is transient and carries its Retry-After", async () => {
    fake.ssl.faults.push({ kind: "http429" });
    const err = await failure(ca.submit(request(), signal));
    expect(describeError(err)).toBe("namecheap nc-ssl: namecheap.ssl.getInfo: HTTP 429 Too Many Requests");
    expect(err).toMatchObject({ noRetry: false, retryAfterSeconds: 120 });
  });

  test("a slow reply and a stop: the call is abandoned at once, as aborted", async () => {
    fake.ssl.certs.get(1001)!.slowSeconds = 5;
    const stop = new AbortController();
    const started = performance.now();
    setTimeout(() => stop.abort(new Error("daemon stopping")), 50);
    const err = await failure(ca.submit(request(), stop.signal));
    expect(err?.code).toBe("aborted");
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  test("the doctor check asks getInfo about each cert's current id (its configured one before any renewal), offline it skips, and a refused key fails with a hint", async () => {
    const user = { name: "rota", uid: 0, gid: 0 };
    const checkable = ca as unknown as Checkable;
    expect(isCheckable(ca)).toBe(true);
    const certs = [
      { id: "shop", caOptions: { certificateId: 1001 } },
      { id: "fresh", caOptions: { certificateId: 2001 } },
    ];
    expect(await checkable.check(signal, { offline: false, user, certs: [] })).toEqual([{ status: "skip", message: "namecheap nc-ssl: no cert uses this CA" }]);
    // Before any renewal, the configured id is the current one: a typo in namecheap_certificate_id shows now, not at the first renewal.
    expect((await checkable.check(signal, { offline: false, user, certs })).map((r) => [r.status, r.message])).toEqual([
      ["ok", "namecheap nc-ssl: cert shop: certificate 1001 is active (Certificate is Active)"],
      ["ok", "namecheap nc-ssl: cert fresh: certificate 2001 is newpurchase (Certificate is not activated): the first renewal activates it"],
    ]);
    expect(commands()).toEqual(["getInfo(1001)", "getInfo(2001)"]);
    await ca.submit(request(), signal);
    const id = stateOf().current_id;
    expect(await checkable.check(signal, { offline: true, user, certs })).toEqual([{ status: "skip", message: "namecheap nc-ssl: offline: Namecheap's SSL API not asked" }]);
    fake.requests.length = 0;
    // Narrowed to one cert (rota doctor shop): only its id is asked about.
    const results = await checkable.check(signal, { offline: false, user, certs: [certs[0]!] });
    expect(results.map((r) => [r.status, r.message])).toEqual([["warn", `namecheap nc-ssl: cert shop: certificate ${id} is purchased (Awaiting domain control validation)`]]);
    expect(commands()).toEqual([`getInfo(${id})`]);
    fake.ssl.faults.push({ kind: "error", number: "1011150", text: "Invalid request IP: 203.0.113.7" });
    const refused = await checkable.check(signal, { offline: false, user, certs: [certs[0]!] });
    expect(refused[0]).toMatchObject({
      status: "fail",
      message: `namecheap nc-ssl: namecheap.ssl.getInfo: error 1011150: Invalid request IP: 203.0.113.7; allow-list client_ip 203.0.113.7 in Namecheap's API settings (cert shop, certificate ${id})`,
      hint: "add 203.0.113.7 at Profile → Tools → API Access → Whitelisted IPs",
    });
    expect(JSON.stringify(refused)).not.toContain(fake.apiKey);
    // A certificate rota can do nothing with is a FAIL with the renewal's own reason.
    const stuck = await checkable.check(signal, { offline: false, user, certs: [{ id: "other", caOptions: { certificateId: 3001 } }] });
    expect(stuck).toEqual([
      {
        status: "fail",
        message: "namecheap nc-ssl: cert other: certificate 3001 has a request pending that rota did not start; finish or cancel it at Namecheap, then rota renew other --force",
        hint: "see the certificate at Namecheap",
      },
    ]);
  });

  test("a reissue taken without CNAMEs (ValueAvailable false) is recorded, and the next renewal says what is missing", async () => {
    fake.ssl.faults.push({ command: "namecheap.ssl.reissue", kind: "value-unavailable" });
    const err = await failure(ca.submit(request(), signal));
    const id = stateOf().current_id;
    expect(describeError(err)).toBe(`namecheap nc-ssl: namecheap.ssl.reissue: certificate ${id}: DNSDCValidation@ValueAvailable is false (no CNAME to publish)`);
    expect(stateOf().pending).toMatchObject({ certificate_id: id, records: [] });
    expect(describeError(await failure(ca.submit(request(), signal)))).toBe(
      `namecheap nc-ssl: certificate ${id} has a request rota started but no CNAME records for it; finish or cancel it at Namecheap, then rota renew shop --force`,
    );
  });

  test("an API error on the reissue leaves nothing pending; a lost reply is named at the next renewal", async () => {
    fake.ssl.faults.push({ command: "namecheap.ssl.reissue", kind: "error", number: "2011166", text: "Certificate cannot be reissued" });
    await failure(ca.submit(request(), signal));
    expect(stateOf().pending).toBeNull();

    // The reissue went through but its reply was lost (a stop mid-call): the new id waits for a request nobody holds.
    fake.ssl.faults.push({ command: "namecheap.ssl.reissue", kind: "truncated" });
    await failure(ca.submit(request(), signal));
    expect(stateOf().pending).toMatchObject({ from_id: 1001, command: "reissue" });
    const err = await failure(ca.submit(request(), signal));
    expect(describeError(err)).toMatch(/^namecheap nc-ssl: certificate \d+ has a request pending whose reply rota never got \(it stopped during namecheap\.ssl\.reissue on certificate 1001, started .*\); finish or cancel it at Namecheap, then rota renew shop --force$/);
  });

  test("the poll rides out three transient faults in a row, not four; a fault on the resend is only noted; an API error ends it", async () => {
    const sub = await ca.submit(request(), signal);
    publish(sub.challenges);
    fake.ssl.faults.push({ command: "namecheap.ssl.resendApproverEmail", kind: "http500" });
    for (const kind of ["http500", "html", "truncated"] as const) fake.ssl.faults.push({ command: "namecheap.ssl.getInfo", kind });
    const done = await ca.awaitIssuance(sub.order, signal);
    expect(done.note).toMatch(/active after 4 checks \(\d+ s\); could not ask Sectigo to re-check \(namecheap nc-ssl: namecheap\.ssl\.resendApproverEmail: HTTP 500 Internal Server Error\)$/);

    const next = await ca.submit(request(), signal);
    for (let i = 0; i < 4; i++) fake.ssl.faults.push({ command: "namecheap.ssl.getInfo", kind: "http500" });
    expect(describeError(await failure(ca.awaitIssuance(next.order, signal)))).toBe("namecheap nc-ssl: namecheap.ssl.getInfo: HTTP 500 Internal Server Error");

    const third = await ca.submit(request(), signal);
    fake.ssl.faults.push({ command: "namecheap.ssl.getInfo", kind: "error", number: "5050900", text: "Unhandled exception" });
    const err = await failure(ca.awaitIssuance(third.order, signal));
    expect(describeError(err)).toBe("namecheap nc-ssl: namecheap.ssl.getInfo: error 5050900: Unhandled exception");
  });

  test("a 429 during the poll: the next check waits its Retry-After (120 s), not the poll's 3 s", async () => {
    const sub = await ca.submit(request(), signal);
    publish(sub.challenges);
    fake.ssl.faults.push({ command: "namecheap.ssl.getInfo", kind: "http429" });
    const done = await ca.awaitIssuance(sub.order, signal);
    // First check at 2 s (429), the second 120 s later.
    expect(done.note).toBe(`certificate ${stateOf().current_id} active after 2 checks (122 s); asked Sectigo to re-check once`);
  });

  test("resendApproverEmail's 2011331 is ignored; active without certificates is an error", async () => {
    const sub = await ca.submit(request(), signal);
    publish(sub.challenges);
    fake.ssl.faults.push({ command: "namecheap.ssl.resendApproverEmail", kind: "error", number: "2011331", text: "Nothing to resend" });
    fake.ssl.faults.push({ command: "namecheap.ssl.getInfo", kind: "no-certificates" });
    const err = await failure(ca.awaitIssuance(sub.order, signal));
    expect(describeError(err)).toMatch(/^namecheap nc-ssl: certificate \d+ is active but the reply carries no certificate/);
  });

  test("a plan used up: the reissue that gained no time installs, and the next submit refuses without retry", async () => {
    const planEnd = new Date(Date.now() + 3_600_000);
    await fake.ssl.seed({ id: 6001, status: "active", names: ["shop.example.com"], planEnd });
    const sub = await ca.submit(request(6001), signal);
    publish(sub.challenges);
    const done = await ca.awaitIssuance(sub.order, signal);
    expect((await parseCert(done.leafPem)).notAfter.getTime()).toBeLessThanOrEqual(planEnd.getTime());
    const id = stateOf().current_id;
    expect(stateOf().plan_used_up).toBe(id);
    const err = await failure(ca.submit(request(6001), signal));
    expect(describeError(err)).toBe(`namecheap nc-ssl: the Namecheap plan behind certificate ${id} is used up (the last reissue gained no time); renew it at Namecheap: rota never buys`);
    expect(err?.noRetry).toBe(true);
    // Another configured certificate (the plan renewed at Namecheap) starts afresh.
    expect((await ca.submit(request(1001), signal)).summary).toMatch(/^reissued certificate 1001/);
  });
});
