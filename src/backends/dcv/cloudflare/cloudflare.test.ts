/** @module CloudflareDcv over the v4 fake: the DCV contract, and the requests it sends. */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { cloudflareId, startFakeCloudflare, type FakeCloudflare } from "../../../../test/fakes/cloudflare.ts";
import type { DcvBackend, DcvChallenge } from "../../types.ts";
import { runDcvContract } from "../contract.ts";
import { createCloudflareDcv } from "./cloudflare.ts";
import type { CloudflareConfig } from "./config.ts";
import { propagationPolicy } from "../../../testing/propagation.ts";

const TOKEN = "cf-token-Zm9vYmFyYmF6";
const ENV = "ROTA_TEST_CLOUDFLARE_TOKEN";
process.env[ENV] = TOKEN;
/** The daemon's state folder: the backend's zone locks live under it. */
const stateDir = mkdtempSync(join(tmpdir(), "rota-cloudflare-"));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

function backend(fake: FakeCloudflare, over: Partial<CloudflareConfig> = {}): DcvBackend {
  return createCloudflareDcv("cf", { apiUrl: fake.url, apiToken: { from: "env", name: ENV }, zoneId: undefined, propagation: propagationPolicy(), ...over }, { clock: systemClock, stateDir });
}

/** What a resolver reads at the challenge's name, by its kind. */
const lookupIn = (fake: FakeCloudflare) => async (ch: DcvChallenge) => (ch.kind === "dns-01" ? fake.txt(ch.recordName) : ch.kind === "dns-cname" ? fake.cname(ch.recordName) : []);

const dns = (recordName: string, recordValue: string, ttl = 60): DcvChallenge => ({ kind: "dns-01", recordName, recordValue, ttl });

runDcvContract("cloudflare over the v4 fake", () => {
  const fake = startFakeCloudflare({ token: TOKEN, zones: [{ id: cloudflareId(), name: "example.com" }] });
  return { backend: backend(fake), lookup: lookupIn(fake), cleanup: () => fake.stop() };
});

runDcvContract("cloudflare over the v4 fake, as mirrored to DNS", () => {
  // What challtestsrv would serve, kept the way it keeps it: values per name, cleared per name.
  const served = new Map<string, string[]>();
  const cnames = new Map<string, string>();
  const mirror = {
    setTxt: async (host: string, value: string) => void served.set(host, [...(served.get(host) ?? []), value]),
    clearTxt: async (host: string) => void served.delete(host),
    setCname: async (host: string, target: string) => void cnames.set(host, target),
    clearCname: async (host: string) => void cnames.delete(host),
  };
  const fake = startFakeCloudflare({ token: TOKEN, zones: [{ id: cloudflareId(), name: "example.com" }], mirror });
  const lookup = async (ch: DcvChallenge) => {
    if (ch.kind === "dns-01") return served.get(ch.recordName) ?? [];
    const target = ch.kind === "dns-cname" ? cnames.get(ch.recordName) : undefined;
    return target === undefined ? [] : [target];
  };
  return { backend: backend(fake), lookup, cleanup: () => fake.stop() };
});

runDcvContract("cloudflare with zone_id over the v4 fake", () => {
  const zone = { id: cloudflareId(), name: "example.com" };
  const fake = startFakeCloudflare({ token: TOKEN, zones: [zone] });
  // With zone_id the token needs DNS:Edit only.
  fake.permissions.zoneRead = false;
  return { backend: backend(fake, { zoneId: zone.id }), lookup: lookupIn(fake), cleanup: () => fake.stop() };
});

describe("cloudflare", () => {
  const signal = new AbortController().signal;
  const zone = { id: cloudflareId(), name: "example.com" };
  const other = { id: cloudflareId(), name: "sub.example.org" };
  let fake: FakeCloudflare;
  beforeEach(() => {
    fake = startFakeCloudflare({ token: TOKEN, zones: [zone, other] });
  });
  afterEach(() => fake.stop());

  test("publish walks up the labels to the zone, then lists and creates the TXT record with the Bearer token", async () => {
    await backend(fake).publish(dns("_acme-challenge.www.example.com.", "dmFsdWU"), signal);
    expect(fake.requests.map((r) => [r.method, r.path, r.query])).toEqual([
      ["GET", "/zones", { name: "_acme-challenge.www.example.com" }],
      ["GET", "/zones", { name: "www.example.com" }],
      ["GET", "/zones", { name: "example.com" }],
      ["GET", `/zones/${zone.id}/dns_records`, { type: "TXT", name: "_acme-challenge.www.example.com", per_page: "100" }],
      ["POST", `/zones/${zone.id}/dns_records`, {}],
    ]);
    expect(fake.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(fake.requests[4]?.contentType).toBe("application/json");
    expect(fake.requests[4]?.body).toEqual({ type: "TXT", name: "_acme-challenge.www.example.com", content: "dmFsdWU", ttl: 60 });
  });

  test("the zone found once is not looked up again; a multi-label zone is found", async () => {
    const cf = backend(fake);
    await cf.publish(dns("_acme-challenge.a.sub.example.org", "dmFsdWU"), signal);
    await cf.remove(dns("_acme-challenge.a.sub.example.org", "dmFsdWU"), signal);
    expect(fake.requests.filter((r) => r.path === "/zones").map((r) => r.query.name)).toEqual([
      "_acme-challenge.a.sub.example.org",
      "a.sub.example.org",
      "sub.example.org",
    ]);
    expect(fake.records()).toEqual([]);
  });

  test("zone_id skips the lookup", async () => {
    await backend(fake, { zoneId: zone.id }).publish(dns("_acme-challenge.example.com", "dmFsdWU"), signal);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /zones/${zone.id}/dns_records`, `POST /zones/${zone.id}/dns_records`]);
  });

  test("the challenge's TTL is sent when above Cloudflare's minimum of 60", async () => {
    await backend(fake).publish(dns("_acme-challenge.example.com", "YQ", 300), signal);
    await backend(fake).publish(dns("_acme-challenge.example.com", "Yg", 10), signal);
    expect(fake.records().map((r) => [r.content, r.ttl])).toEqual([["YQ", 300], ["Yg", 60]]);
  });

  test("remove deletes every record with our value (duplicates left by another run too) and leaves other values", async () => {
    const cf = backend(fake, { zoneId: zone.id });
    await cf.publish(dns("_acme-challenge.example.com", "b3Vycw"), signal);
    await cf.publish(dns("_acme-challenge.example.com", "dGhlaXJz"), signal);
    // A copy Cloudflare hands back in its quoted zone-file form, as made by another tool.
    fake.canned.length = 0;
    const quoted = await fetch(`${fake.url}/zones/${zone.id}/dns_records`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ type: "TXT", name: "_acme-challenge.example.com", content: '"b3Vycw"', ttl: 60 }),
    });
    expect(quoted.status).toBe(200);
    fake.requests.length = 0;
    await cf.remove(dns("_acme-challenge.example.com", "b3Vycw"), signal);
    expect(fake.requests.filter((r) => r.method === "DELETE")).toHaveLength(2);
    expect(fake.txt("_acme-challenge.example.com")).toEqual(["dGhlaXJz"]);
  });

  test("a record deleted between the list and the delete is success", async () => {
    const cf = backend(fake, { zoneId: zone.id });
    await cf.publish(dns("_acme-challenge.example.com", "b3Vycw"), signal);
    const id = fake.records()[0]?.id;
    // The list answers as before, then the delete finds the record gone.
    fake.canned.push({ status: 200, body: { success: true, errors: [], messages: [], result: [{ id, type: "TXT", name: "_acme-challenge.example.com", content: "b3Vycw", ttl: 60 }] } });
    fake.canned.push({ status: 404, body: { success: false, errors: [{ code: 81044, message: "Record does not exist." }], messages: [], result: null } });
    await cf.remove(dns("_acme-challenge.example.com", "b3Vycw"), signal);
  });

  test("an identical record made meanwhile by another publish is success", async () => {
    fake.canned.push({ status: 200, body: { success: true, errors: [], messages: [], result: [] } });
    fake.canned.push({ status: 400, body: { success: false, errors: [{ code: 81058, message: "An identical record already exists." }], messages: [], result: null } });
    await backend(fake, { zoneId: zone.id }).publish(dns("_acme-challenge.example.com", "b3Vycw"), signal);
  });

  // A daemon stopping while the create is on its way: Cloudflare makes the record after the
  // renewal's remove listed none and the journal forgot the challenge; it stayed for good.
  test("remove after a create cut short waits for Cloudflare's reply, then deletes the record it made", async () => {
    const cf = backend(fake, { zoneId: zone.id });
    const ch = dns("_acme-challenge.example.com", "bGF0ZQ");
    const hold = fake.holdNextCreate();
    const ac = new AbortController();
    const publishing = cf.publish(ch, ac.signal).catch((e: unknown) => e);
    await hold.arrived;
    ac.abort(new Error("daemon stopping"));
    expect(await publishing).toMatchObject({ code: "aborted", message: "cloudflare cf: cancelled" });
    const removing = cf.remove(ch, AbortSignal.timeout(10_000));
    // Cloudflare answers once remove has had its chance to list first: a remove that does not wait lists nothing and returns.
    await Promise.race([removing, Bun.sleep(250)]);
    hold.release();
    await removing;
    await hold.done;
    expect(fake.records()).toEqual([]);
    const records = `/zones/${zone.id}/dns_records`;
    expect(fake.requests.map((r) => `${r.method} ${r.path.replace(/[0-9a-f]{32}$/, "<id>")}`)).toEqual([`GET ${records}`, `POST ${records}`, `GET ${records}`, `DELETE ${records}/<id>`]);
    expect(fake.requests[1]?.body).toEqual({ type: "TXT", name: "_acme-challenge.example.com", content: "bGF0ZQ", ttl: 60 });
  });

  test("remove that cannot learn a cut-short create's outcome within its signal fails; the daemon's journal sweep waits for the reply and deletes the record", async () => {
    // The renewal's process and the daemon: two backends, one state folder.
    const worker = backend(fake, { zoneId: zone.id });
    const daemon = backend(fake, { zoneId: zone.id });
    const ch: DcvChallenge = { kind: "dns-cname", recordName: "_7f3a09.www.example.com", target: "1a2b.c3d4.u1.sectigo.com", ttl: 60 };
    const hold = fake.holdNextCreate();
    const ac = new AbortController();
    const publishing = worker.publish(ch, ac.signal).catch((e: unknown) => e);
    await hold.arrived;
    ac.abort(new Error("renewal deadline"));
    expect(await publishing).toMatchObject({ code: "aborted" });
    // The renewal's clean-up budget runs out: the error keeps the challenge journaled.
    await expect(worker.remove(ch, AbortSignal.timeout(100))).rejects.toMatchObject({
      code: "zone_busy",
      message: `cloudflare cf: zone ${zone.id}: a record create sent earlier still awaits Cloudflare's reply; nothing listed or deleted until it ends`,
    });
    // Another process holds no write of its own: it names the lock.
    await expect(daemon.remove(ch, AbortSignal.timeout(100))).rejects.toMatchObject({ code: "zone_busy", message: expect.stringContaining("still holds the zone's lock") });
    expect(fake.requests.map((r) => r.method)).toEqual(["GET", "POST"]);
    // The daemon sweeps the journal as soon as the renewal ends, while Cloudflare still works on the create.
    const sweeping = daemon.remove(ch, AbortSignal.timeout(10_000));
    await Promise.race([sweeping, Bun.sleep(250)]);
    hold.release();
    await sweeping;
    await hold.done;
    expect(fake.records()).toEqual([]);
    expect(fake.requests.map((r) => r.method)).toEqual(["GET", "POST", "GET", "DELETE"]);
  });

  test("no zone the token can see: the names tried and what to do", async () => {
    const err = await backend(fake).publish(dns("_acme-challenge.www.example.net", "YQ"), signal).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "no_zone",
      noRetry: true,
      message:
        "cloudflare cf: no zone for _acme-challenge.www.example.net among those the API token can read (tried _acme-challenge.www.example.net, www.example.net, example.net); check the token's Zone:Read permission, or set zone_id",
    });
  });

  test("a wrong token: Cloudflare's code and message, and never the token", async () => {
    const cf = createCloudflareDcv("cf", { apiUrl: fake.url, apiToken: { from: "env", name: "ROTA_TEST_CF_WRONG" }, zoneId: undefined, propagation: propagationPolicy() }, { clock: systemClock, stateDir });
    process.env.ROTA_TEST_CF_WRONG = "wrong-token-c2VjcmV0";
    const err = await cf.publish(dns("_acme-challenge.example.com", "YQ"), signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "refused", noRetry: true, message: "cloudflare cf: 9109 Invalid access token" });
    expect(fake.requests[0]?.authorization).toBe("Bearer wrong-token-c2VjcmV0");
  });

  test("a 403 for a missing permission names the permission", async () => {
    fake.permissions.zoneRead = false;
    await expect(backend(fake).publish(dns("_acme-challenge.example.com", "YQ"), signal)).rejects.toMatchObject({
      code: "forbidden",
      message: "cloudflare cf: 10000 Authentication error (the API token needs the Zone:Read permission, or set zone_id)",
    });
    fake.permissions.dnsEdit = false;
    await expect(backend(fake, { zoneId: zone.id }).remove(dns("_acme-challenge.example.com", "YQ"), signal)).rejects.toMatchObject({
      code: "forbidden",
      message: "cloudflare cf: 10000 Authentication error (the API token needs the DNS:Edit permission on this zone)",
    });
  });

  test("a zone_id Cloudflare does not know", async () => {
    const err = await backend(fake, { zoneId: cloudflareId() }).publish(dns("_acme-challenge.example.com", "YQ"), signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "refused", noRetry: true });
    expect((err as Error).message).toStartWith("cloudflare cf: 7003 Could not route to /zones/");
  });

  test("a token file that cannot be read, or is empty", async () => {
    const missing = createCloudflareDcv("cf", { apiUrl: fake.url, apiToken: { from: "file", path: "/nonexistent/cf.token" }, zoneId: undefined, propagation: propagationPolicy() }, { clock: systemClock, stateDir });
    await expect(missing.publish(dns("_acme-challenge.example.com", "YQ"), signal)).rejects.toMatchObject({
      code: "secret",
      message: "cloudflare cf: cannot read api_token from /nonexistent/cf.token: ENOENT",
    });
    process.env.ROTA_TEST_CF_EMPTY = "";
    const empty = createCloudflareDcv("cf", { apiUrl: fake.url, apiToken: { from: "env", name: "ROTA_TEST_CF_EMPTY" }, zoneId: undefined, propagation: propagationPolicy() }, { clock: systemClock, stateDir });
    await expect(empty.remove(dns("_acme-challenge.example.com", "YQ"), signal)).rejects.toMatchObject({
      code: "secret",
      message: "cloudflare cf: api_token: environment variable ROTA_TEST_CF_EMPTY is empty",
    });
    expect(fake.requests).toEqual([]);
  });

  test("refuses an http-01 challenge", async () => {
    const http: DcvChallenge = { kind: "http-01", domain: "example.com", token: "t", keyAuthorization: "t.k" };
    expect(backend(fake).supports(http)).toBe(false);
    await expect(backend(fake).publish(http, signal)).rejects.toMatchObject({ code: "unsupported", message: "cloudflare cf: cannot solve http-01" });
  });
});
