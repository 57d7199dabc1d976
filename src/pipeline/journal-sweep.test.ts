/**
 * @module The journal's sweep against the vendor fakes, counting what they receive (issue 9:
 * "one getHosts+setHosts per change, never a polling loop against the API"): a publish the
 * API refused before any write leaves nothing to sweep; stale entries of one zone are removed
 * in one read-modify-write; a removal the API keeps refusing is asked less and less often.
 */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cloudflareId, startFakeCloudflare } from "../../test/fakes/cloudflare.ts";
import { startFakeNamecheap, type FakeHost, type FakeNamecheap } from "../../test/fakes/namecheap.ts";
import { createCloudflareDcv } from "../backends/dcv/cloudflare/cloudflare.ts";
import { createNamecheapDcv } from "../backends/dcv/namecheap/namecheap.ts";
import { wroteNothing } from "../backends/dcv/unwritten.ts";
import type { DcvBackend, DcvChallenge } from "../backends/types.ts";
import { createLogger } from "../log.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { propagationPolicy } from "../testing/propagation.ts";
import { ChallengeJournal, configuredDcvs } from "./journal.ts";

const silent = createLogger({ level: "silent" });
const NC_KEY = "ROTA_TEST_SWEEP_NC_KEY";
const CF_TOKEN = "cf-token-c3dlZXBzd2VlcA";
const CF_ENV = "ROTA_TEST_SWEEP_CF_TOKEN";
process.env[CF_ENV] = CF_TOKEN;
const T0 = Date.parse("2026-03-01T00:00:00Z");
const SEEDED: FakeHost[] = [
  { name: "@", type: "A", address: "192.0.2.1", mxPref: "10", ttl: "1800" },
  { name: "@", type: "MX", address: "mx1.example.net.", mxPref: "5", ttl: "3600" },
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-sweep-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const txt = (recordName: string, n: number): DcvChallenge => ({ kind: "dns-01", recordName, recordValue: `dmFsdWU${n}`, ttl: 60 });
const commands = (fake: FakeNamecheap, command: string) => fake.requests.filter((r) => r.command === `namecheap.domains.dns.${command}`).length;

describe("Namecheap", () => {
  const fake = startFakeNamecheap();
  process.env[NC_KEY] = fake.apiKey;
  afterAll(() => fake.stop());
  const namecheap = (clientIp = fake.clientIp) =>
    createNamecheapDcv(
      "nc",
      { apiUser: fake.apiUser, username: fake.apiUser, apiKey: { from: "env", name: NC_KEY }, clientIp, apiUrl: fake.url, propagation: propagationPolicy() },
      { stateDir: dir, clock: new FakeClock(), log: silent, emit: () => {}, withheldEnv: () => [] },
    );
  beforeEach(() => {
    fake.requests.length = 0;
    fake.zones.set("example.com", { emailType: "MX", isUsingOurDns: true, hosts: SEEDED.map((h) => ({ ...h })) });
    fake.zones.set("example.org", { emailType: "MX", isUsingOurDns: true, hosts: SEEDED.map((h) => ({ ...h })) });
  });

  test("a machine off the API allow-list: publish fails after one getHosts, marked as having written nothing", async () => {
    const err = await namecheap("198.51.100.77").publish(txt("_acme-challenge.www.example.com", 1), AbortSignal.timeout(10_000)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "namecheap_ip" });
    expect(wroteNothing(err)).toBe(true);
    expect(fake.requests.map((r) => r.command)).toEqual(["namecheap.domains.dns.getHosts"]);
  });

  test("stale entries of two domains: one getHosts and one setHosts per domain, every other record kept", async () => {
    const dcv = namecheap();
    const journal = new ChallengeJournal(dir);
    for (let n = 1; n <= 6; n++) {
      const ch = txt(n % 3 === 0 ? "_acme-challenge.example.org" : "_acme-challenge.www.example.com", n);
      await dcv.publish(ch, AbortSignal.timeout(10_000));
      journal.record({ renewalId: `r${n}`, certId: "www", dcv: "nc", challenges: [ch] });
    }
    fake.requests.length = 0;
    expect(await journal.recover(configuredDcvs(new Map([["nc", dcv]])), silent, AbortSignal.timeout(10_000), { now: new Date(T0), retryBaseMs: 5_000 })).toBe(6);
    expect(commands(fake, "getHosts")).toBe(2);
    expect(commands(fake, "setHosts")).toBe(2);
    for (const zone of ["example.com", "example.org"]) expect(fake.zones.get(zone)!.hosts).toEqual(SEEDED);
    expect(journal.entries()).toEqual([]);
  });

  test("one domain that cannot be read holds back only its own entries", async () => {
    const dcv = namecheap();
    const journal = new ChallengeJournal(dir);
    const com = txt("_acme-challenge.www.example.com", 1);
    await dcv.publish(com, AbortSignal.timeout(10_000));
    journal.record({ renewalId: "r1", certId: "www", dcv: "nc", challenges: [com] });
    journal.record({ renewalId: "r2", certId: "org", dcv: "nc", challenges: [txt("_acme-challenge.example.org", 2)] });
    fake.zones.get("example.org")!.isUsingOurDns = false;
    fake.requests.length = 0;
    expect(await journal.recover(configuredDcvs(new Map([["nc", dcv]])), silent, AbortSignal.timeout(10_000), { now: new Date(T0), retryBaseMs: 5_000 })).toBe(1);
    expect(fake.zones.get("example.com")!.hosts).toEqual(SEEDED);
    expect(journal.entries()).toEqual([expect.objectContaining({ renewalId: "r2", failures: 1, retryAt: new Date(T0 + 5_000).toISOString() })]);
    expect(commands(fake, "getHosts")).toBe(2);
    expect(commands(fake, "setHosts")).toBe(1);
  });

  test("ten minutes of 5-s sweeps with the IP refused: 47 entries cost 7 getHosts and no setHosts; the first sweep once allowed removes them all in one change", async () => {
    const journal = new ChallengeJournal(dir);
    for (let n = 1; n <= 47; n++) journal.record({ renewalId: `r${n}`, certId: "www", dcv: "nc", challenges: [txt("_acme-challenge.www.example.com", n)] });
    const refused = configuredDcvs(new Map([["nc", namecheap("198.51.100.77")]]));
    for (let s = 0; s <= 600; s += 5) await journal.recover(refused, silent, AbortSignal.timeout(10_000), { now: new Date(T0 + s * 1000), retryBaseMs: 5_000 });
    expect(commands(fake, "getHosts")).toBe(7);
    expect(commands(fake, "setHosts")).toBe(0);
    expect(journal.entries()).toHaveLength(47);

    fake.requests.length = 0;
    const allowed = configuredDcvs(new Map([["nc", namecheap()]]));
    expect(await journal.recover(allowed, silent, AbortSignal.timeout(10_000), { now: new Date(T0 + 630_000), retryBaseMs: 5_000 })).toBe(0);
    expect(fake.requests).toEqual([]);
    expect(await journal.recover(allowed, silent, AbortSignal.timeout(10_000), { now: new Date(T0 + 635_000), retryBaseMs: 5_000 })).toBe(47);
    // None of the values was there: nothing to write.
    expect(commands(fake, "getHosts")).toBe(1);
    expect(commands(fake, "setHosts")).toBe(0);
    expect(journal.entries()).toEqual([]);
  });
});

describe("Cloudflare", () => {
  const zone = { id: cloudflareId(), name: "example.com" };
  const fake = startFakeCloudflare({ token: CF_TOKEN, zones: [zone] });
  afterAll(() => fake.stop());
  beforeEach(() => {
    fake.requests.length = 0;
  });
  const cloudflare = (zoneId?: string): DcvBackend =>
    createCloudflareDcv(
      "cf",
      { apiUrl: fake.url, apiToken: { from: "env", name: CF_ENV }, zoneId, propagation: propagationPolicy() },
      { clock: new FakeClock(), stateDir: dir },
    );

  test("no zone for the name, or a zone_id the token cannot use: publish fails before any create, marked as having written nothing", async () => {
    for (const [dcv, name] of [
      [cloudflare(), "_acme-challenge.www.example.net"],
      [cloudflare(cloudflareId()), "_acme-challenge.www.example.com"],
    ] as const) {
      const err = await dcv.publish(txt(name, 1), AbortSignal.timeout(10_000)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(wroteNothing(err)).toBe(true);
    }
    expect(fake.requests.length).toBeGreaterThan(0);
    expect(fake.requests.filter((r) => r.method !== "GET")).toEqual([]);
  });

  test("stale entries of one zone: one list per name under one hold of the zone lock, one delete per record", async () => {
    const dcv = cloudflare();
    const journal = new ChallengeJournal(dir);
    for (let n = 1; n <= 4; n++) {
      const ch = txt(n % 2 === 0 ? "_acme-challenge.example.com" : "_acme-challenge.www.example.com", n);
      await dcv.publish(ch, AbortSignal.timeout(10_000));
      journal.record({ renewalId: `r${n}`, certId: "www", dcv: "cf", challenges: [ch] });
    }
    const sweeper = cloudflare();
    fake.requests.length = 0;
    expect(await journal.recover(configuredDcvs(new Map([["cf", sweeper]])), silent, AbortSignal.timeout(10_000), { now: new Date(T0), retryBaseMs: 5_000 })).toBe(4);
    const lists = fake.requests.filter((r) => r.method === "GET" && r.path.endsWith("/dns_records"));
    expect(lists).toHaveLength(2);
    expect(fake.requests.filter((r) => r.method === "DELETE")).toHaveLength(4);
    expect(fake.records()).toEqual([]);
    expect(journal.entries()).toEqual([]);
  });
});
