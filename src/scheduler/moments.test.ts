/**
 * @module The scheduler between sweeps, on a fake clock: the moment timer renews a short
 * certificate on time under a long interval, a moment already past never arms it, plans are
 * written only when they change, and ARI polls (a fake advisor) run in the background, at
 * most four at once, survive a restart, and make a cert due when the CA moves its window.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { createConsola } from "consola";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import type { AriAnswer, CaAdvisor } from "../backends/types.ts";
import type { CertConfig, DaemonConfig } from "../config/schema.ts";
import { EventBus, type RotaEvent } from "../events.ts";
import type { ExecuteRequest } from "../pipeline/execute.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import { runRenewal } from "../pipeline/renewer.ts";
import type { CertRuntime, Watchlist } from "../pipeline/runtime.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { testConfig } from "../testing/config.ts";
import { FakeClock, settle } from "../testing/fake-clock.ts";
import type { AdviceSource } from "./ari-poll.ts";
import { singleNode, type Leadership } from "./leadership.ts";
import { Runner } from "./runner.ts";
import { Scheduler } from "./scheduler.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK_S = 7 * 86_400;

let dir: string;
let clock: FakeClock;
let store: SqliteAuditStore;
let bus: EventBus;
let events: RotaEvent[];
let runner: Runner;
let lines: string[];
let schedulers: Scheduler[];
const runtimes = new Map<string, CertRuntime>();

const log = () =>
  createConsola({
    level: 5,
    reporters: [{ log: (o) => void lines.push(o.args.map(String).join(" ")) }],
  });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-moments-"));
  clock = new FakeClock();
  store = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus((err) => {
    throw err;
  });
  subscribeAudit(bus, store);
  events = [];
  lines = [];
  schedulers = [];
  bus.subscribe((e) => void events.push(e));
  const journal = new ChallengeJournal(dir);
  const execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
  runner = new Runner({ store, bus, clock, log: log() }, { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 8, timeoutSeconds: 1800 });
});

afterEach(async () => {
  for (const s of schedulers) await s.stop();
  await runner.stop();
  await bus.drain();
  await store.close();
  runtimes.clear();
  rmSync(dir, { recursive: true, force: true });
});

function cert(id: string, validityDays: number, renewThresholdDays?: number): CertRuntime {
  const config: CertConfig = {
    id,
    domains: [`${id}.example.com`],
    ca: "internal",
    dcv: undefined,
    install: ["files"],
    keyPath: join(dir, "keys", `${id}.key`),
    keyType: "ecdsa-p256",
    renewThresholdDays,
    keyRotation: "never",
  };
  const runtime: CertRuntime = {
    config,
    ca: createLocalCa("internal", { validityDays, commonName: undefined }, { stateDir: dir, clock }),
    dcv: undefined,
    installs: [createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined })],
  };
  runtimes.set(id, runtime);
  return runtime;
}

function watchlist(certs: CertRuntime[], over: Partial<DaemonConfig> = {}): Watchlist {
  const config = testConfig(dir, certs.map((c) => c.config), { checkIntervalSeconds: WEEK_S, ...over });
  config.cas = [{ name: "internal", type: "local", options: {} }];
  return { config, certs, dcvs: new Map() };
}

function newScheduler(watch: Watchlist, advice?: AdviceSource, leadership: Leadership = singleNode): Scheduler {
  const s = new Scheduler({ runner, store, bus, clock, leadership, journal: new ChallengeJournal(dir), log: log(), advice }, watch);
  schedulers.push(s);
  return s;
}

async function quiet(s: Scheduler): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await s.idle();
    await Promise.all([...runtimes.keys()].map((id) => runner.current(id)?.done));
    await settle();
    if ([...runtimes.keys()].every((id) => !runner.busy(id))) break;
  }
  await s.idle();
  await bus.drain();
}

const started = () => events.filter((e) => e.type === "renewal.started").map((e) => `${(e as { certId: string }).certId}:${(e as { trigger: string }).trigger}`);

/** An advisor answering each poll with `window(notAfter)` and counting polls (all, and at once). */
class FakeAdvisor implements CaAdvisor {
  polls = 0;
  running = 0;
  mostAtOnce = 0;
  gate: Promise<void> | null = null;
  window: (notAfter: Date) => { start: Date; end: Date } = (na) => ({ start: new Date(na.getTime() - 40 * DAY), end: new Date(na.getTime() - 38 * DAY) });
  retryS = 6 * 3600;

  async poll(leafPem: string): Promise<AriAnswer> {
    this.polls++;
    this.running++;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.running);
    try {
      if (this.gate) await this.gate;
      const notAfter = new Date(new X509Certificate(leafPem).validTo);
      const polledAt = clock.now();
      return { ari: true, certId: "aYhb.AIdl", window: this.window(notAfter), explanationUrl: null, polledAt, nextPollAt: new Date(polledAt.getTime() + this.retryS * 1000), error: null };
    } finally {
      this.running--;
    }
  }
  async replaces(): Promise<string | null> {
    return null;
  }
  async profiles(): Promise<string[]> {
    return [];
  }
  async checkCertOptions(): Promise<string | null> {
    return null;
  }
}

const adviceOf = (advisor: CaAdvisor): AdviceSource => ({ advises: () => true, for: async () => advisor });

describe("the moment timer", () => {
  test("a 1-day certificate renews at half its life under a weekly sweep", async () => {
    const s = newScheduler(watchlist([cert("www", 1)]));
    s.start();
    await quiet(s);
    expect(started()).toEqual(["www:startup"]);
    const look = s.look("www")!;
    expect(look.decision).toMatchObject({ action: "none", why: "lifetime" });
    const at = look.decision!.moment!.at.getTime();
    // Half of the day from notBefore (backdated 5 min), less at most L/20 of jitter.
    expect(at).toBeLessThanOrEqual(clock.now().getTime() + 12 * HOUR);
    expect(at).toBeGreaterThanOrEqual(clock.now().getTime() + 12 * HOUR - 5 * 60_000 - 1.2 * HOUR);
    await clock.advance(at - clock.now().getTime() + 1_000);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:scheduled"]);
    expect(events.filter((e) => e.type === "cert.due").at(-1)).toMatchObject({ reason: expect.stringMatching(/^due: 0\.\d\d days left, renew at \S+ \(lifetime rule\)$/) });
  });

  test("a moment already past never arms it: a threshold longer than the lifetime renews at each sweep, and says so once", async () => {
    const s = newScheduler(watchlist([cert("www", 1, 30)], { checkIntervalSeconds: 3600 }));
    s.start();
    await quiet(s);
    // Issued at start and due again at once: only the sweep's timer is armed.
    expect(started()).toEqual(["www:startup"]);
    expect(s.look("www")!.decision).toMatchObject({ action: "renew", why: "threshold" });
    expect(clock.pending()).toBe(1);
    await clock.advance(3_600_000);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:scheduled"]);
    const warnings = lines.filter((l) => l.includes("is at least half of this certificate's"));
    expect(warnings[0]).toBe("www: renew_threshold_days = 30 (cert) is at least half of this certificate's 1.00-day lifetime, so it renews at every check; remove it to renew at ½ of the lifetime");
    // Once per certificate, not at every look: two certificates, two lines.
    expect(warnings.length).toBe(2);
  });
});

describe("the moment timer and a cooldown", () => {
  /** A cert whose CA refuses its first `failures` orders. */
  function failing(failures: number): CertRuntime {
    const www = cert("www", 90);
    const submit = www.ca.submit.bind(www.ca);
    let left = failures;
    www.ca = { ...www.ca, submit: (req, signal) => (left-- > 0 ? Promise.reject(new Error("internal: CA down")) : submit(req, signal)) };
    return www;
  }

  test("a failed renewal is tried again at its cooldown's end, not at the next weekly sweep", async () => {
    const s = newScheduler(watchlist([failing(1)]));
    s.start();
    await quiet(s);
    expect(started()).toEqual(["www:startup"]);
    const retryAt = (await store.getCertState("www"))!.retryAt!;
    expect(retryAt.getTime()).toBe(clock.now().getTime() + 900_000);
    await clock.advance(900_000 + 1_000);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:scheduled"]);
  });

  test("a non-forced renew refused for the cooldown keeps the timer armed for its end", async () => {
    const www = failing(1);
    const s = newScheduler(watchlist([www]));
    s.start();
    await quiet(s);
    expect(await s.request(www)).toMatchObject({ status: "cooldown" });
    await clock.advance(900_000 + 1_000);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:scheduled"]);
  });
});

test("a clock stepped back a day, then forward past the moment: no loop, no crash, and the renewal comes", async () => {
  const s = newScheduler(watchlist([cert("www", 1)]));
  s.start();
  await quiet(s);
  const at = s.look("www")!.decision!.moment!.at.getTime();
  const t0 = clock.now().getTime();
  clock.jump(-DAY);
  // The moment timer fires after its delay, finds the moment a day ahead, and arms itself again.
  await clock.advance(at - t0 + 1_000);
  await quiet(s);
  expect(started()).toEqual(["www:startup"]);
  expect(s.look("www")!.decision).toMatchObject({ action: "none" });
  expect(clock.pending()).toBe(2);
  // Stepped forward past the moment: the timer, when it fires, finds it come.
  clock.jump(DAY + 2 * HOUR);
  await clock.advance(DAY);
  await quiet(s);
  expect(started()).toEqual(["www:startup", "www:scheduled"]);
});

test("the plan is written when it changes, not at every look", async () => {
  let writes = 0;
  const put = store.putRenewalPlan.bind(store);
  store.putRenewalPlan = async (p) => {
    writes++;
    return put(p);
  };
  const s = newScheduler(watchlist([cert("www", 90)], { checkIntervalSeconds: 3600 }));
  s.start();
  await quiet(s);
  const after = writes;
  expect(after).toBeGreaterThan(0);
  const plan = (await store.renewalPlans(["www"])).get("www")!;
  expect(plan).toMatchObject({ certId: "www", reason: "lifetime", ari: null });
  expect(plan.renewAt).toEqual(s.look("www")!.decision!.moment!.at);
  for (let i = 0; i < 3; i++) await clock.advance(3_600_000);
  await quiet(s);
  expect(writes).toBe(after);
});

describe("ARI polls", () => {
  test("are the leader's alone: an answer that comes after the lease is gone is not stored, and a follower never polls", async () => {
    let leading = true;
    const leadership: Leadership = { isLeader: () => leading, fence: () => null, leader: () => null };
    const advisor = new FakeAdvisor();
    let answer = () => {};
    advisor.gate = new Promise((resolve) => (answer = resolve));
    let polling = () => {};
    const asked = new Promise<void>((resolve) => (polling = resolve));
    const poll = advisor.poll.bind(advisor);
    advisor.poll = (pem) => (polling(), poll(pem));
    const s = newScheduler(watchlist([cert("www", 90)]), adviceOf(advisor), leadership);
    s.start();
    await asked;
    expect(advisor.polls).toBe(1);
    leading = false;
    answer();
    await quiet(s);
    expect((await store.renewalPlans(["www"])).get("www")?.ari).toBeNull();
    await clock.advance(7 * 86_400_000);
    await quiet(s);
    expect(advisor.polls).toBe(1);
    expect(started()).toEqual(["www:startup"]);
  });

  test("the window sets the moment; the answer is kept, and a restart does not ask again before its time", async () => {
    const advisor = new FakeAdvisor();
    const s = newScheduler(watchlist([cert("www", 90)]), adviceOf(advisor));
    s.start();
    await quiet(s);
    expect(advisor.polls).toBe(1);
    const look = s.look("www")!;
    expect(look.decision).toMatchObject({ action: "none", why: "ari" });
    expect(look.ari?.window).not.toBeNull();
    const { start, end } = look.ari!.window!;
    const at = look.decision!.moment!.at;
    expect(at >= start && at <= end).toBe(true);
    await s.stop();

    const again = newScheduler(watchlist([runtimes.get("www")!]), adviceOf(advisor));
    again.start();
    await quiet(again);
    expect(advisor.polls).toBe(1);
    expect(again.look("www")!.decision!.moment!.at).toEqual(at);
    // The next poll is its own moment: 6 h on, the timer asks again.
    await clock.advance(6 * HOUR + 1_000);
    await quiet(again);
    expect(advisor.polls).toBe(2);
  });

  test("a window moved into the past makes the cert due at that look, saying it moved", async () => {
    const advisor = new FakeAdvisor();
    const s = newScheduler(watchlist([cert("www", 90)]), adviceOf(advisor));
    s.start();
    await quiet(s);
    const was = s.look("www")!.decision!.moment!.at;
    // A mass revocation: the CA pulls this certificate's window into the past (not its successor's).
    const first = s.look("www")!.decision!.notAfter!.getTime();
    const usual = advisor.window;
    advisor.window = (na) => (na.getTime() === first ? { start: new Date(clock.now().getTime() - 2 * HOUR), end: new Date(clock.now().getTime() - HOUR) } : usual(na));
    await clock.advance(6 * HOUR + 1_000);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:scheduled"]);
    const due = events.filter((e) => e.type === "cert.due").at(-1) as { reason: string };
    expect(due.reason).toStartWith(`ARI window moved earlier (was ${was.toISOString()}): due: `);
    expect(due.reason).toEndWith("(ARI window)");
  });

  test("a window a non-forced renew finds moved into the past: the renewal starts, and its reason says the window moved", async () => {
    const advisor = new FakeAdvisor();
    const www = cert("www", 90);
    const s = newScheduler(watchlist([www]), adviceOf(advisor));
    s.start();
    await quiet(s);
    const was = s.look("www")!.decision!.moment!.at;
    // Renewal ids carry the time: the second renewal starts a minute later.
    await clock.advance(60_000);
    const first = s.look("www")!.decision!.notAfter!.getTime();
    const usual = advisor.window;
    advisor.window = (na) => (na.getTime() === first ? { start: new Date(clock.now().getTime() - 2 * HOUR), end: new Date(clock.now().getTime() - HOUR) } : usual(na));
    expect(await s.request(www)).toMatchObject({ status: "started" });
    await quiet(s);
    const last = events.filter((e) => e.type === "renewal.started").at(-1) as { trigger: string; reason: string };
    expect(last.trigger).toBe("manual");
    expect(last.reason).toStartWith(`ARI window moved earlier (was ${was.toISOString()}): due: `);
  });

  test("an answer for a cert already due starts nothing: the sweeps renew it, not each poll", async () => {
    const advisor = new FakeAdvisor();
    const s = newScheduler(watchlist([cert("www", 1, 30)]), adviceOf(advisor));
    s.start();
    await quiet(s);
    await settle();
    await quiet(s);
    expect(advisor.polls).toBe(1);
    expect(started()).toEqual(["www:startup"]);
    expect(s.look("www")!.decision).toMatchObject({ action: "renew" });
  });

  test("at most four at once, off the sweep's path", async () => {
    const advisor = new FakeAdvisor();
    let open = () => {};
    advisor.gate = new Promise<void>((resolve) => (open = resolve));
    const certs = ["a", "b", "c", "d", "e", "f"].map((id) => cert(id, 90));
    const s = newScheduler(watchlist(certs), adviceOf(advisor));
    s.start();
    await quiet(s);
    // The sweep ended with polls still waiting on the CA.
    expect(advisor.running).toBe(4);
    open();
    await settle();
    await quiet(s);
    expect(advisor.polls).toBe(6);
    expect(advisor.mostAtOnce).toBe(4);
  });

  test("a non-forced renew asks at once, at most once per 10 s, and answers not due with the moment and window", async () => {
    const advisor = new FakeAdvisor();
    const www = cert("www", 90);
    const s = newScheduler(watchlist([www]), adviceOf(advisor));
    s.start();
    await quiet(s);
    expect(advisor.polls).toBe(1);
    const answer = await s.request(www);
    expect(advisor.polls).toBe(2);
    const look = s.look("www")!;
    expect(answer).toEqual({ status: "not_due", reason: look.decision!.reason, renewAt: look.decision!.moment!.at, ariWindow: look.ari!.window });
    await s.request(www);
    expect(advisor.polls).toBe(2);
    await clock.advance(10_000);
    await s.request(www);
    expect(advisor.polls).toBe(3);
  });
});
