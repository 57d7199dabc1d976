/** @module Namecheap DNS's doctor check over the fake XML API: one getList, the key never shown. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeNamecheap } from "../../../../test/fakes/namecheap.ts";
import { createLogger } from "../../../log.ts";
import { FakeClock } from "../../../testing/fake-clock.ts";
import { propagationPolicy } from "../../../testing/propagation.ts";
import type { CheckContext } from "../../types.ts";
import type { NamecheapConfig } from "./config.ts";
import { createNamecheapDcv } from "./namecheap.ts";

const fake = startFakeNamecheap();
fake.zones.set("example.com", { emailType: "MX", isUsingOurDns: true, hosts: [] });
const stateDir = mkdtempSync(join(tmpdir(), "rota-namecheap-check-"));
afterAll(async () => {
  await fake.stop();
  rmSync(stateDir, { recursive: true, force: true });
});
const KEY_ENV = "ROTA_TEST_NAMECHEAP_CHECK_KEY";
const ctx: CheckContext = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
const signal = new AbortController().signal;
const dcv = (over: Partial<NamecheapConfig> = {}) =>
  createNamecheapDcv(
    "nc",
    { apiUser: fake.apiUser, username: fake.apiUser, apiKey: { from: "env", name: KEY_ENV }, clientIp: fake.clientIp, apiUrl: fake.url, propagation: propagationPolicy(), ...over },
    { stateDir, clock: new FakeClock(), log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] },
  );

test("one namecheap.domains.getList, authenticated; nothing written", async () => {
  process.env[KEY_ENV] = fake.apiKey;
  fake.requests.length = 0;
  expect(await dcv().check(signal, ctx)).toEqual([{ status: "ok", message: `the API accepts user ${fake.apiUser} from client_ip ${fake.clientIp} (1 domain(s))` }]);
  expect(fake.requests.map((r) => r.command)).toEqual(["namecheap.domains.getList"]);
  expect(fake.requests[0]!.params).toMatchObject({ ApiUser: fake.apiUser, ApiKey: fake.apiKey, ClientIp: fake.clientIp, PageSize: "10" });
});

test("a wrong key and an IP off the allow-list are FAILs; the key never shows", async () => {
  process.env[KEY_ENV] = "wrong-key-canary-55aa";
  const [bad] = await dcv().check(signal, ctx);
  expect(bad!.status).toBe("fail");
  expect(JSON.stringify(bad)).not.toContain("wrong-key-canary-55aa");
  process.env[KEY_ENV] = fake.apiKey;
  const [ip] = await dcv({ clientIp: "198.51.100.1" }).check(signal, ctx);
  expect(ip!.message).toContain("not on the API allow-list");
  expect(JSON.stringify(ip)).not.toContain(fake.apiKey);
});

test("offline: nothing sent", async () => {
  fake.requests.length = 0;
  expect(await dcv().check(signal, { ...ctx, offline: true })).toEqual([{ status: "skip", message: `offline: ${fake.url} not contacted` }]);
  expect(fake.requests).toEqual([]);
});
