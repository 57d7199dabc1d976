/** @module The raw v4 client: the envelope's errors as messages, 429 and Retry-After, outages, cancellation. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { systemClock } from "../../../clock.ts";
import { cloudflareId, startFakeCloudflare, type CannedReply, type FakeCloudflare } from "../../../../test/fakes/cloudflare.ts";
import { CloudflareClient } from "./client.ts";

const TOKEN = "cf-token-dG9rZW4";
const zone = { id: cloudflareId(), name: "example.com" };
const signal = new AbortController().signal;

const envelope = (errors: { code: number; message: string }[]) => ({ success: errors.length === 0, errors, messages: [], result: errors.length ? null : [] });
const rateLimited = (retryAfter?: string): CannedReply => ({
  status: 429,
  body: envelope([{ code: 971, message: "Please wait and consider throttling your request speed" }]),
  headers: retryAfter === undefined ? {} : { "retry-after": retryAfter },
});

describe("CloudflareClient", () => {
  let fake: FakeCloudflare;
  let client: CloudflareClient;
  beforeEach(() => {
    fake = startFakeCloudflare({ token: TOKEN, zones: [zone] });
    client = new CloudflareClient({ apiUrl: fake.url, token: TOKEN, who: "cloudflare cf", clock: systemClock });
  });
  afterEach(() => fake.stop());

  test("zones by exact name, records by type and name", async () => {
    expect(await client.zoneByName("example.com", signal)).toMatchObject(zone);
    expect(await client.zoneByName("www.example.com", signal)).toBeUndefined();
    const made = await client.createTxt(zone.id, { name: "_acme-challenge.example.com", content: "YQ", ttl: 60 }, signal);
    expect(await client.recordsAt(zone.id, "_acme-challenge.example.com", "TXT", signal)).toEqual([expect.objectContaining({ id: made.id, content: "YQ" })]);
    await client.deleteRecord(zone.id, made.id, signal);
    expect(fake.requests.at(-1)).toMatchObject({ method: "DELETE", path: `/zones/${zone.id}/dns_records/${made.id}`, body: undefined });
    expect(fake.records()).toEqual([]);
  });

  test("429 waits out Retry-After, then tries again", async () => {
    fake.canned.push(rateLimited("1"));
    const started = performance.now();
    expect(await client.zoneByName("example.com", signal)).toMatchObject(zone);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(fake.requests).toHaveLength(2);
  });

  test("a Retry-After longer than 30 s is not waited out: the error carries it", async () => {
    fake.canned.push(rateLimited("600"));
    await expect(client.zoneByName("example.com", signal)).rejects.toMatchObject({
      code: "rate_limited",
      retryAfterSeconds: 600,
      message: "cloudflare cf: 971 Please wait and consider throttling your request speed (rate limited)",
    });
    expect(fake.requests).toHaveLength(1);
  });

  test("at most three tries", async () => {
    fake.canned.push(rateLimited("0"), rateLimited("0"), rateLimited("0"), rateLimited("0"));
    await expect(client.zoneByName("example.com", signal)).rejects.toMatchObject({ code: "rate_limited", retryAfterSeconds: 0 });
    expect(fake.requests).toHaveLength(3);
  });

  test("an abort during the wait rejects at once", async () => {
    fake.canned.push(rateLimited("20"));
    const ac = new AbortController();
    const pending = client.zoneByName("example.com", ac.signal).catch((e: unknown) => e);
    while (fake.requests.length === 0) await Bun.sleep(1);
    ac.abort(new Error("stopping"));
    expect(await pending).toMatchObject({ code: "aborted", message: "cloudflare cf: cancelled" });
    expect(fake.requests).toHaveLength(1);
  });

  test("a create already sent is waited out when its signal fires: the reply says the record exists", async () => {
    const hold = fake.holdNextCreate();
    const ac = new AbortController();
    const creating = client.createTxt(zone.id, { name: "_acme-challenge.example.com", content: "YQ", ttl: 60 }, ac.signal);
    await hold.arrived;
    ac.abort(new Error("stopping"));
    hold.release();
    expect(await creating).toMatchObject({ content: "YQ", id: fake.records()[0]?.id });
  });

  test("a create whose signal fired before it was sent sends nothing", async () => {
    await expect(client.createTxt(zone.id, { name: "_acme-challenge.example.com", content: "YQ", ttl: 60 }, AbortSignal.abort())).rejects.toMatchObject({ code: "aborted" });
    expect(fake.requests).toEqual([]);
  });

  test("5xx is retryable, every error of the envelope is named", async () => {
    fake.canned.push({ status: 503, body: envelope([{ code: 10001, message: "Service unavailable" }, { code: 10002, message: "Try later" }]) });
    await expect(client.recordsAt(zone.id, "x.example.com", "TXT", signal)).rejects.toMatchObject({
      code: "unavailable",
      noRetry: false,
      message: "cloudflare cf: 10001 Service unavailable; 10002 Try later",
    });
  });

  test("a reply that is not the v4 envelope (a proxy's page) says so; an echoed token is redacted", async () => {
    fake.canned.push({ status: 502, body: `<html>bad gateway for Bearer ${TOKEN}</html>` });
    const err = await client.zoneByName("example.com", signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "unavailable" });
    expect((err as Error).message).toStartWith("cloudflare cf: HTTP 502: not a Cloudflare API reply");
    expect((err as Error).message).toContain("[redacted]");
    expect((err as Error).message).not.toContain(TOKEN);
  });

  test("success: false with HTTP 200 is an error too", async () => {
    fake.canned.push({ status: 200, body: envelope([{ code: 1004, message: "DNS Validation Error" }]) });
    await expect(client.createTxt(zone.id, { name: "a.example.com", content: "YQ", ttl: 60 }, signal)).rejects.toMatchObject({
      code: "refused",
      message: "cloudflare cf: 1004 DNS Validation Error",
    });
  });

  test("an API that does not answer: the address and the reason, not the token", async () => {
    const down = new CloudflareClient({ apiUrl: "http://127.0.0.1:9/client/v4", token: TOKEN, who: "cloudflare cf", clock: systemClock });
    const err = await down.zoneByName("example.com", signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "unreachable" });
    expect((err as Error).message).toStartWith("cloudflare cf: http://127.0.0.1:9/client/v4: ");
    expect(JSON.stringify(err)).not.toContain(TOKEN);
  });
});
