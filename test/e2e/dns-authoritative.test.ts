/**
 * End to end: the propagate step's default mode — the zone's own authoritative servers, each
 * asked without RD — against two real knotd on loopback port 53, through the compiled binary,
 * the Cloudflare fake and real pebble. The fake's writes reach challtestsrv (for pebble's
 * validation) and both knots; the second knot applies them seconds late, as a provider's
 * lagging server does, and never gets the records of one name at all.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { cloudflareId, startFakeCloudflare, type FakeCloudflare } from "../fakes/cloudflare.ts";
import { fanOut, lagging, type LaggingMirror } from "../fakes/txt-mirror.ts";
import { freeDnsAddress, startDaemon, startKnot, waitFor, type Daemon, type Knot } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { waitForRenewal, type AuditRow } from "./helpers.ts";

const CF_TOKEN = "cf-auth-e2e-token-0123456789";
const ZONE = "auth.test";
const LAG_NAME = "_acme-challenge.www.auth.test";
const STUCK_NAME = "_acme-challenge.stuck.auth.test";
/** Longer than two check intervals, so the first looks must see ns2 behind. */
const LAG_MS = 3_000;

let world: World;
let cf: FakeCloudflare;
let knot1: Knot;
let knot2: Knot;
let knot2Writes: LaggingMirror;
let daemon: Daemon | undefined;

beforeAll(async () => {
  world = await startWorld();
  const nameServers = [
    { name: `ns1.${ZONE}`, address: await freeDnsAddress() },
    { name: `ns2.${ZONE}`, address: await freeDnsAddress() },
  ];
  const start = (n: 0 | 1) => startKnot({ dir: join(world.dir, `knot${n + 1}`), address: nameServers[n]!.address, zone: ZONE, nameServers });
  [knot1, knot2] = await Promise.all([start(0), start(1)]);
  knot2Writes = lagging({ setTxt: (host, value) => (host === STUCK_NAME ? Promise.resolve() : knot2.setTxt(host, value)), clearTxt: knot2.clearTxt }, LAG_MS);
  cf = startFakeCloudflare({
    token: CF_TOKEN,
    zones: [{ id: cloudflareId(), name: ZONE }],
    mirror: fanOut({ setTxt: world.pebble.setTxt, clearTxt: world.pebble.clearTxt }, knot1, knot2Writes),
  });
  // No propagation_resolvers: the authoritative mode, its NS found through knot #1.
  const dcv = (name: string, timeoutSeconds: number) =>
    `[[dcv]]\nname = "${name}"\ntype = "cloudflare"\napi_url = ${JSON.stringify(cf.url)}\napi_token_env = "ROTA_E2E_CF_TOKEN"\nbootstrap_resolver = ${JSON.stringify(knot1.hostPort)}\npropagation_interval_seconds = 1\npropagation_timeout_seconds = ${timeoutSeconds}\n`;
  const config = world.writeConfig({
    certs: [
      { id: "lag", domains: [`www.${ZONE}`], dcv: "cf" },
      { id: "stuck", domains: [`stuck.${ZONE}`], dcv: "cf-stuck" },
    ],
    extra: [dcv("cf", 60), dcv("cf-stuck", 5)].join("\n"),
  });
  daemon = startDaemon(config, { env: { ...world.env, ROTA_E2E_CF_TOKEN: CF_TOKEN } });
});

afterAll(async () => {
  await daemon?.stop();
  await cf?.stop();
  await knot2Writes?.settled().catch(() => {});
  await Promise.allSettled([knot1?.stop(), knot2?.stop()]);
  await world?.stop();
});

const step = (row: AuditRow, name: string) => row.events.find((e) => e.step === name);

test("one authoritative server lags: the renewal waits for it, names both servers, and asked the lagging one without RD", async () => {
  const row = await waitForRenewal(world.socket, "lag", () => true, 60_000);
  expect(row.error).toBeNull();
  expect(row.status).toBe("succeeded");
  const propagate = step(row, "propagate")!;
  expect(propagate.status).toBe("ok");
  const message = propagate.message;
  const published = cf.requests.find((r) => r.method === "POST" && (r.body as { name?: string }).name === LAG_NAME)?.body as { content: string };
  expect(message).toContain(`ns1.${ZONE} (${knot1.hostPort}) for ${LAG_NAME}: ${JSON.stringify(published.content)}`);
  expect(message).toContain(`ns2.${ZONE} (${knot2.hostPort}) for ${LAG_NAME}: ${JSON.stringify(published.content)}`);
  // The first look came before ns2 had the value.
  const looks = Number(/visible after (\d+) look/.exec(message)?.[1]);
  expect(looks).toBeGreaterThan(1);

  // Each knot's own log: the TXT asked at both without RD; RD only in knot #1's bootstrap role.
  await waitFor(() => knot2.queries.filter((q) => q.name === LAG_NAME && q.type === "TXT").length >= looks, 10_000, 100, "knot #2's dnstap to report every look");
  const txtAt2 = knot2.queries.filter((q) => q.name === LAG_NAME && q.type === "TXT");
  expect(txtAt2.length).toBeGreaterThanOrEqual(looks);
  expect(knot2.queries.filter((q) => q.recursive)).toEqual([]);
  await waitFor(() => knot1.queries.some((q) => q.name === LAG_NAME && q.type === "TXT"), 10_000, 100, "knot #1's dnstap to report a look");
  expect(knot1.queries.filter((q) => q.name === LAG_NAME && q.type === "TXT").every((q) => !q.recursive)).toBe(true);
  expect(knot1.queries.filter((q) => q.type === "NS").every((q) => q.recursive)).toBe(true);

  expect(cf.txt(LAG_NAME)).toEqual([]);
  expect(await knot1.txt(LAG_NAME)).toEqual([]);
  await knot2Writes.settled();
  expect(await knot2.txt(LAG_NAME)).toEqual([]);
});

test("one authoritative server never gets the record: propagation times out naming it, and the record is removed", async () => {
  const row = await waitForRenewal(world.socket, "stuck", () => true, 60_000);
  expect(row.status).toBe("failed");
  const propagate = step(row, "propagate")!;
  expect(propagate.status).toBe("failed");
  expect(propagate.message).toContain("not visible after 5 s");
  expect(propagate.message).toContain(`${STUCK_NAME} at ns2.${ZONE} (${knot2.hostPort})`);
  expect(propagate.message).not.toContain(`${STUCK_NAME} at ns1.${ZONE}`);
  expect(step(row, "await_issuance")).toBeUndefined();
  expect(step(row, "remove")!.status).toBe("ok");
  expect(cf.txt(STUCK_NAME)).toEqual([]);
  expect(await knot1.txt(STUCK_NAME)).toEqual([]);
});
