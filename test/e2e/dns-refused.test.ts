/**
 * End to end: a DNS API that refuses this machine costs one call per renewal, not a growing
 * poll (issue 9: "one getHosts+setHosts per change, never a polling loop against the API").
 * The compiled binary against the Namecheap fake with a `client_ip` off its allow-list (error
 * 1011150), short check interval and cooldowns: each failed renewal sends its one getHosts,
 * journals nothing, and no sweep asks again.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { startFakeNamecheap, type FakeNamecheap } from "../fakes/namecheap.ts";
import { startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit } from "./helpers.ts";

const NC_KEY = "nc-e2e-refused-0123456789";

let world: World;
let nc: FakeNamecheap;
let daemon: Daemon | undefined;

beforeAll(async () => {
  world = await startWorld();
  nc = startFakeNamecheap({ apiKey: NC_KEY });
  nc.zones.set("nc.test", { emailType: "MX", isUsingOurDns: true, hosts: [{ name: "@", type: "A", address: "192.0.2.10", mxPref: "10", ttl: "1800" }] });
});

afterAll(async () => {
  await daemon?.stop();
  await nc?.stop();
  await world?.stop();
});

test("Namecheap refusing the client IP: one getHosts per failed renewal, no setHosts, nothing journaled", async () => {
  const config = world.writeConfig({
    daemon: { check_interval_seconds: 1, failure_cooldown_seconds: 1, failure_cooldown_max_seconds: 2 },
    certs: [{ id: "refused", domains: ["www.nc.test"], dcv: "nc" }],
    extra: `[[dcv]]\nname = "nc"\ntype = "namecheap"\napi_url = ${JSON.stringify(nc.url)}\napi_user = "alice"\napi_key_env = "ROTA_E2E_NC_KEY"\nclient_ip = "198.51.100.99"\npropagation_check = false\nfollow_cname = false`,
  });
  daemon = startDaemon(config, { env: { ...world.env, ROTA_E2E_NC_KEY: NC_KEY } });
  const getHosts = () => nc.requests.filter((r) => r.command === "namecheap.domains.dns.getHosts").length;
  // Counted between two renewals, while only the checks (and their journal sweeps) run: the same count before and after reading the audit.
  const { rows, sent } = await waitFor(
    async () => {
      const before = getHosts();
      const all = await audit(world.socket, "refused").catch(() => []);
      const done = all.filter((r) => r.finished_at !== null);
      return done.length >= 4 && done.length === all.length && getHosts() === before ? { rows: done, sent: before } : null;
    },
    60_000,
    100,
    "four failed renewals, none running",
  );
  for (const r of rows) {
    expect(r.status).toBe("failed");
    expect(r.error).toContain("this machine's IP is not on the API allow-list");
    expect(r.events.find((e) => e.step === "remove")?.status).toBe("skipped");
  }
  expect(sent).toBe(rows.length);
  expect(nc.requests.filter((r) => r.command === "namecheap.domains.dns.setHosts")).toEqual([]);
  const journal = join(world.stateDir, "journal");
  expect(existsSync(journal) ? readdirSync(journal).filter((n) => n.endsWith(".json")) : []).toEqual([]);
});

