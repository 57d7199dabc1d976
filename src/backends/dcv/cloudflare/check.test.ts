/** @module Cloudflare's doctor check over the v4 fake: one read, the permission it proves, the token never shown. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeCloudflare } from "../../../../test/fakes/cloudflare.ts";
import { systemClock } from "../../../clock.ts";
import { propagationPolicy } from "../../../testing/propagation.ts";
import type { CheckContext } from "../../types.ts";
import { createCloudflareDcv } from "./cloudflare.ts";
import type { CloudflareConfig } from "./config.ts";

const TOKEN = "cf-check-token-canary-Zm9v";
const ENV = "ROTA_TEST_CLOUDFLARE_CHECK_TOKEN";
process.env[ENV] = TOKEN;
const ZONE = "0123456789abcdef0123456789abcdef";
const fake = startFakeCloudflare({ token: TOKEN, zones: [{ id: ZONE, name: "example.com" }] });
const stateDir = mkdtempSync(join(tmpdir(), "rota-cloudflare-check-"));
afterAll(async () => {
  await fake.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

const ctx: CheckContext = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
const signal = new AbortController().signal;
const dcv = (over: Partial<CloudflareConfig> = {}) =>
  createCloudflareDcv("cf", { apiUrl: fake.url, apiToken: { from: "env", name: ENV }, zoneId: undefined, propagation: propagationPolicy(), ...over }, { clock: systemClock, stateDir });

test("without zone_id: the zones the token sees, one GET", async () => {
  fake.requests.length = 0;
  expect(await dcv().check(signal, ctx)).toEqual([{ status: "ok", message: "the API token sees 1 zone(s): example.com" }]);
  expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /zones"]);
  expect(fake.requests[0]!.authorization).toBe(`Bearer ${TOKEN}`);
});

test("with zone_id: a TXT listing in that zone; without DNS:Edit, a FAIL naming it", async () => {
  fake.requests.length = 0;
  expect(await dcv({ zoneId: ZONE }).check(signal, ctx)).toEqual([{ status: "ok", message: `the API token reads DNS records of zone ${ZONE}` }]);
  expect(fake.requests.map((r) => [r.method, r.path, r.query.type])).toEqual([["GET", `/zones/${ZONE}/dns_records`, "TXT"]]);
  fake.permissions.dnsEdit = false;
  try {
    const [r] = await dcv({ zoneId: ZONE }).check(signal, ctx);
    expect(r!.status).toBe("fail");
    expect(r!.message).toContain("DNS:Edit");
  } finally {
    fake.permissions.dnsEdit = true;
  }
});

test("a wrong token: FAIL, and the token is not in the output; offline sends nothing", async () => {
  process.env.ROTA_TEST_CLOUDFLARE_CHECK_WRONG = "wrong-token-canary-3e1f";
  const results = await dcv({ apiToken: { from: "env", name: "ROTA_TEST_CLOUDFLARE_CHECK_WRONG" } }).check(signal, ctx);
  expect(results[0]!.status).toBe("fail");
  expect(results[0]!.message).toContain("9109 Invalid access token");
  expect(JSON.stringify(results)).not.toContain("wrong-token-canary");
  fake.requests.length = 0;
  expect(await dcv().check(signal, { ...ctx, offline: true })).toEqual([{ status: "skip", message: `offline: ${fake.url} not contacted` }]);
  expect(fake.requests).toEqual([]);
});
