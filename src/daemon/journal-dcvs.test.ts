/**
 * @module The journal's sweep with the daemon's finder: a challenge is removed where its publish
 * put it, through the `[[dcv]]` section as journaled, when a reload changed the section's path or
 * dropped the section; the configured backend when the section is unchanged.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWebrootDcv } from "../backends/dcv/webroot/webroot.ts";
import type { DcvChallenge } from "../backends/types.ts";
import type { BackendSection, RotaConfig } from "../config/schema.ts";
import { createLogger } from "../log.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import type { Watchlist } from "../pipeline/runtime.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { JournaledDcvs } from "./journal-dcvs.ts";

const log = createLogger({ level: "silent" });
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-journal-dcvs-"));
  for (const w of ["a", "b"]) mkdirSync(join(dir, w));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const http = (token: string): DcvChallenge => ({ kind: "http-01", domain: "www.example.com", token, keyAuthorization: `${token}.thumb` });
const webroot = (path: string): BackendSection => ({ name: "web", type: "webroot", options: { path } });
const challengeDir = (w: string) => join(dir, w, ".well-known", "acme-challenge");

/** A watchlist with these `[[dcv]]` sections, built as the daemon builds them. */
function watchlist(sections: BackendSection[]): Watchlist {
  const dcvs = new Map(sections.map((s) => [s.name, createWebrootDcv(s.name, s.options as { path: string })] as const));
  return { config: { dcvs: sections } as RotaConfig, certs: [], dcvs };
}

async function published(w: string, token: string): Promise<void> {
  await createWebrootDcv("web", { path: join(dir, w) }).publish(http(token), AbortSignal.timeout(5_000));
}

test("a webroot moved by a reload, or dropped: the challenge goes from where it was published; an unchanged section uses the configured backend", async () => {
  const journal = new ChallengeJournal(join(dir, "state"));
  const finder = new JournaledDcvs({ stateDir: join(dir, "state"), clock: new FakeClock(), log, emit: () => {}, withheldEnv: () => [] });
  await published("a", "moved");
  await published("a", "dropped");
  await published("b", "same");
  journal.record({ renewalId: "r1", certId: "www", dcv: "web", section: webroot(join(dir, "a")), challenges: [http("moved")] });
  journal.record({ renewalId: "r2", certId: "api", dcv: "gone", section: { ...webroot(join(dir, "a")), name: "gone" }, challenges: [http("dropped")] });
  journal.record({ renewalId: "r3", certId: "mail", dcv: "web", section: webroot(join(dir, "b")), challenges: [http("same")] });

  const now = watchlist([webroot(join(dir, "b"))]);
  const sweep = { now: new Date(), retryBaseMs: 5_000 };
  expect(await journal.recover(finder.finder(now), log, AbortSignal.timeout(5_000), sweep)).toBe(3);
  expect(readdirSync(challengeDir("a"))).toEqual([]);
  expect(readdirSync(challengeDir("b"))).toEqual([]);
  expect(journal.entries()).toEqual([]);
  expect(await finder.finder(now)({ renewalId: "r3", certId: "mail", dcv: "web", section: webroot(join(dir, "b")), challenges: [] })).toBe(now.dcvs.get("web"));
});

test("an entry journaled without its section (an older rota) falls back to the configured name", async () => {
  const finder = new JournaledDcvs({ stateDir: join(dir, "state"), clock: new FakeClock(), log, emit: () => {}, withheldEnv: () => [] });
  const now = watchlist([webroot(join(dir, "b"))]);
  expect(await finder.finder(now)({ renewalId: "r1", certId: "www", dcv: "web", challenges: [] })).toBe(now.dcvs.get("web"));
  expect(await finder.finder(now)({ renewalId: "r1", certId: "www", dcv: "gone", challenges: [] })).toBeUndefined();
  expect(existsSync(join(dir, "state"))).toBe(false);
});
