/**
 * End to end: the compiled binary's renewal worker (`rota __renewal`, as the daemon starts it)
 * on real pebble, with Cloudflare's fake holding the TXT create past the renewal's end. The
 * renewal is cancelled, its remove cannot list the zone while the create is open, so the
 * challenge stays journaled and the outcome says a write is still in flight; told to exit,
 * the worker does not cut the create off: once Cloudflare has made the record, the worker
 * deletes it, forgets the journal entry, and only then exits.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { certSections } from "../../src/pipeline/cert-sections.ts";
import { CHILD_COMMAND } from "../../src/pipeline/child-command.ts";
import { readLines } from "../../src/pipeline/lines.ts";
import { cloudflareId, startFakeCloudflare, type FakeCloudflare } from "../fakes/cloudflare.ts";
import { ROTA_BIN } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";

const TOKEN = "cf-worker-late-token-0123";

let world: World;
let cf: FakeCloudflare;

beforeAll(async () => {
  world = await startWorld();
  cf = startFakeCloudflare({ token: TOKEN, zones: [{ id: cloudflareId(), name: "cf.test" }] });
});

afterAll(async () => {
  await cf?.stop();
  await world?.stop();
});

test("a worker told to exit while a create it gave up on is still open waits for it, then deletes the record and forgets the journal entry", async () => {
  const config = world.writeConfig({
    certs: [{ id: "held", domains: ["held.cf.test"], dcv: "cf" }],
    extra: `[[dcv]]\nname = "cf"\ntype = "cloudflare"\napi_url = ${JSON.stringify(cf.url)}\napi_token_env = "ROTA_E2E_CF_TOKEN"\nfollow_cname = false\npropagation_check = false\n`,
  });
  const env = { ...process.env, ...world.env, ROTA_E2E_CF_TOKEN: TOKEN };
  const request = { renew: { ...certSections(loadConfig(config, env), "held"), renewalId: "r-held", trigger: "manual", latestIssued: null } };
  const journal = join(world.stateDir, "journal");
  const journaled = () => readdirSync(journal).filter((n) => n.endsWith(".json"));

  const hold = cf.holdNextCreate();
  const worker = Bun.spawn([ROTA_BIN, CHILD_COMMAND], { env, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  worker.stdin.write(`${JSON.stringify({ hello: { stateDir: world.stateDir, withheldEnv: [] } })}\n${JSON.stringify(request)}\n`);
  void worker.stdin.flush();
  await hold.arrived;
  // The daemon stops waiting (a deadline, a stop): the create is on its way to Cloudflare.
  worker.stdin.write(`${JSON.stringify({ cancel: { renewalId: "r-held", reason: "renewal deadline" } })}\n`);
  void worker.stdin.flush();

  const steps = new Map<string, { status: string; message: string }>();
  let outcome: { lingering?: boolean } | undefined;
  for await (const text of readLines(worker.stdout)) {
    const line = JSON.parse(text);
    if (line.event?.type === "renewal.step") steps.set(line.event.step, { status: line.event.status, message: line.event.message });
    if (line.outcome) {
      outcome = line;
      break;
    }
  }
  expect(steps.get("publish")).toMatchObject({ status: "failed", message: "cloudflare cf: cancelled: renewal deadline" });
  expect(steps.get("remove")?.status).toBe("failed");
  expect(steps.get("remove")?.message).toContain("a record create sent earlier still awaits Cloudflare's reply");
  expect(outcome?.lingering).toBe(true);
  expect(journaled()).toHaveLength(1);

  // The daemon retires the worker: end of input. It stays, holding the create open.
  worker.stdin.end();
  expect(worker.exitCode).toBeNull();
  hold.release();
  expect(await worker.exited).toBe(0);
  expect(cf.records()).toEqual([]);
  expect(journaled()).toEqual([]);
  // The pre-publish list, the create, then once it was made the list and the delete.
  expect(cf.requests.filter((r) => r.path.includes("/dns_records")).map((r) => r.method)).toEqual(["GET", "POST", "GET", "DELETE"]);
}, 60_000);
