/**
 * @module The Scheduler on a fake clock: when it ticks, what a reload changes, how long a
 * cert has been due, and a clean stop. Renewals run in-process on a local CA.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import type { DcvBackend, ReadableInstall, ReadBack } from "../backends/types.ts";
import type { CertConfig, DaemonConfig } from "../config/schema.ts";
import { EventBus, type RotaEvent } from "../events.ts";
import type { ExecuteRequest } from "../pipeline/execute.ts";
import { ChallengeJournal } from "../pipeline/journal.ts";
import { runRenewal, type RunOutcome } from "../pipeline/renewer.ts";
import type { CertRuntime, Watchlist } from "../pipeline/runtime.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { testConfig } from "../testing/config.ts";
import { FakeClock, settle } from "../testing/fake-clock.ts";
import type { LeaderInfo } from "../cluster/types.ts";
import { createCsr } from "../crypto/csr.ts";
import { loadOrCreateKey } from "../crypto/keys.ts";
import { verifyIssued } from "../crypto/verify.ts";
import { singleNode, type Leadership } from "./leadership.ts";
import { RotaError } from "../errors.ts";
import { orderInputs } from "./order-inputs.ts";
import { Runner } from "./runner.ts";
import { Scheduler } from "./scheduler.ts";

const silent = createConsola({ level: Number.NEGATIVE_INFINITY });

let dir: string;
let clock: FakeClock;
let store: SqliteAuditStore;
let bus: EventBus;
let events: RotaEvent[];
let runner: Runner;
let execute: (req: ExecuteRequest) => Promise<RunOutcome>;
let scheduler: Scheduler | undefined;
const runtimes = new Map<string, CertRuntime>();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-scheduler-"));
  clock = new FakeClock();
  store = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus((err) => {
    throw err;
  });
  subscribeAudit(bus, store);
  events = [];
  bus.subscribe((e) => void events.push(e));
  const journal = new ChallengeJournal(dir);
  execute = (req: ExecuteRequest) => runRenewal(runtimes.get(req.certId)!, req, { store, bus, clock, journal });
  runner = new Runner({ store, bus, clock, log: silent }, { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 2, timeoutSeconds: 1800 });
});

afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
  await runner.stop();
  await bus.drain();
  await store.close();
  runtimes.clear();
  rmSync(dir, { recursive: true, force: true });
});

function cert(id: string, validityDays = 90): CertRuntime {
  const config: CertConfig = {
    id,
    domains: [`${id}.example.com`],
    ca: "internal",
    dcv: undefined,
    install: ["files"],
    keyPath: join(dir, "keys", `${id}.key`),
    keyType: "ecdsa-p256",
    renewThresholdDays: undefined,
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
  return { config: testConfig(dir, certs.map((c) => c.config), over), certs, dcvs: new Map() };
}

function newScheduler(watch: Watchlist): Scheduler {
  scheduler = new Scheduler({ runner, store, bus, clock, leadership: singleNode, journal: new ChallengeJournal(dir), log: silent }, watch);
  return scheduler;
}

/** Waits until every renewal the runner holds has ended and the scheduler has looked again. */
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

const started = () => events.filter((e) => e.type === "renewal.started").map((e) => (e as { certId: string; trigger: string }).certId + ":" + (e as { trigger: string }).trigger);

describe("ticks", () => {
  test("one at start, then one per check interval, and none after stop", async () => {
    const s = newScheduler(watchlist([cert("www")]));
    s.start();
    await quiet(s);
    expect(started()).toEqual(["www:startup"]);
    expect(s.look("www")?.decision?.action).toBe("none");
    expect(s.nextTickAt()).toEqual(new Date(clock.now().getTime() + 3600_000));

    rmSync(join(dir, "installed"), { recursive: true });
    await clock.advance(3599_000);
    await quiet(s);
    expect(started()).toEqual(["www:startup"]);
    await clock.advance(1_000);
    await quiet(s);
    // Nothing installed any more: the stored certificate goes back, no new order.
    expect(started()).toEqual(["www:startup", "www:scheduled"]);
    expect(events.some((e) => e.type === "renewal.started" && e.installOnly)).toBe(true);

    await s.stop();
    scheduler = undefined;
    expect(clock.pending()).toBe(0);
  });

  test("stop() cuts short a journal sweep stuck on a DCV backend", async () => {
    const journal = new ChallengeJournal(dir);
    journal.record({ renewalId: "crashed", certId: "www", dcv: "web", challenges: [{ kind: "http-01", domain: "www.example.com", token: "t", keyAuthorization: "t.k" }] });
    let entered = () => {};
    const removing = new Promise<void>((resolve) => (entered = resolve));
    const web: DcvBackend = {
      name: "web",
      supportedKinds: () => ["http-01"],
      supports: () => true,
      publish: async () => {},
      remove: (_ch, signal) => (entered(), new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }))),
    };
    const s = newScheduler({ ...watchlist([cert("www")]), dcvs: new Map([["web", web]]) });
    s.start();
    await removing;
    await s.stop();
    scheduler = undefined;
    expect(journal.entries().map((e) => e.renewalId)).toEqual(["crashed"]);
    // Well under the sweep's 10 s budget, which a stop must not wait out.
  }, 2_000);
});

describe("update (a reload)", () => {
  test("a new cert is looked at and renewed at once; a removed one no longer is", async () => {
    const www = cert("www");
    const s = newScheduler(watchlist([www]));
    s.start();
    await quiet(s);
    const api = cert("api");
    s.update(watchlist([api]));
    await quiet(s);
    expect(started()).toEqual(["www:startup", "api:reload"]);
    expect(s.look("www")).toBeUndefined();
    expect(s.look("api")?.decision?.action).toBe("none");

    rmSync(join(dir, "installed", "www"), { recursive: true });
    await clock.advance(3600_000);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "api:reload"]);
  });

  test("a cert removed while the tick reads its targets is not started", async () => {
    const www = cert("www");
    let entered = () => {};
    const reading = new Promise<void>((resolve) => (entered = resolve));
    let answer: (r: ReadBack) => void = () => {};
    const readable: ReadableInstall = {
      name: "files",
      install: async () => {},
      readBack: () => (entered(), new Promise<ReadBack>((resolve) => (answer = resolve))),
    };
    www.installs = [readable];
    const s = newScheduler(watchlist([www]));
    s.start();
    await reading;
    s.update(watchlist([]));
    answer({ state: "absent" });
    await quiet(s);
    expect(started()).toEqual([]);
  });

  test("a new check interval takes effect at once", async () => {
    const s = newScheduler(watchlist([cert("www")]));
    s.start();
    await quiet(s);
    s.update(watchlist([runtimes.get("www")!], { checkIntervalSeconds: 60 }));
    await quiet(s);
    // The sweep, and the moment timer armed for the certificate's renewal moment.
    expect(clock.pending()).toBe(2);
    rmSync(join(dir, "installed"), { recursive: true });
    await clock.advance(60_000);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:scheduled"]);
  });

  test("next sweep after a reload that keeps the interval: when the interval's timer fires, not a whole interval after the reload", async () => {
    const s = newScheduler(watchlist([cert("www")]));
    s.start();
    await quiet(s);
    const sweep = clock.now().getTime() + 3600_000;
    await clock.advance(1800_000);
    s.update(watchlist([runtimes.get("www")!]));
    await quiet(s);
    expect(s.nextTickAt()).toEqual(new Date(sweep));
    rmSync(join(dir, "installed"), { recursive: true });
    await clock.advance(sweep - clock.now().getTime());
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:scheduled"]);
    expect(s.nextTickAt()).toEqual(new Date(sweep + 3600_000));
  });

  test("an update during a tick is not lost: the next tick runs right after", async () => {
    const s = newScheduler(watchlist([cert("www")]));
    s.start();
    // The startup tick is still reading targets when the reload arrives.
    s.update(watchlist([runtimes.get("www")!, cert("api")]));
    await quiet(s);
    expect(started().map((s) => s.split(":")[0]).sort()).toEqual(["api", "www"]);
  });
});

describe("firstLooks (what views wait for)", () => {
  test("does not wait for a running renewal, only for a tick still giving a cert its first look", async () => {
    const www = cert("www");
    let entered = () => {};
    const installing = new Promise<void>((resolve) => (entered = resolve));
    // An install that never ends on its own: the renewal runs until stop() aborts it.
    www.installs = [{ name: "files", install: (_req, signal) => (entered(), new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }))) }];
    const s = newScheduler(watchlist([www, cert("api")]));
    expect((await s.request(www, { force: true })).status).toBe("started");
    await installing;
    const answer = await Promise.race([s.firstLooks().then(() => "answered"), settle().then(() => "waiting")]);
    expect(answer).toBe("answered");
    expect(runner.busy("www")).toBe(true);
    expect(s.look("api")).toBeUndefined();
    await runner.stop();
  });
});

describe("dueSince", () => {
  test("set when a cert first needs work, kept while it does, cleared once it is fine", async () => {
    const s = newScheduler(watchlist([cert("www")], { failureCooldownSeconds: 60 }));
    const first = clock.now();
    await s.refresh(runtimes.get("www")!);
    expect(s.look("www")?.dueSince).toEqual(first);
    await clock.advance(5_000);
    await s.refresh(runtimes.get("www")!);
    expect(s.look("www")?.dueSince).toEqual(first);
    s.start();
    await quiet(s);
    expect(s.look("www")?.dueSince).toBeNull();
  });
});

describe("request", () => {
  test("a cert already renewing answers busy with the running renewal's id", async () => {
    const s = newScheduler(watchlist([cert("www")]));
    const first = await s.request(runtimes.get("www")!, { force: true });
    expect(first.status).toBe("started");
    const second = await s.request(runtimes.get("www")!, { force: true });
    expect(second).toEqual({ status: "busy", renewalId: (first as { renewalId: string }).renewalId });
    await quiet(s);
  });
});

describe("an install-only repair that keeps failing", () => {
  test("is retried at the cooldown's pace, not at every tick", async () => {
    const s = newScheduler(watchlist([cert("www")], { checkIntervalSeconds: 60 }));
    s.start();
    await quiet(s);
    // A file where the cert's folder should be: the set reads as damaged, and no install can fix it.
    rmSync(join(dir, "installed", "www"), { recursive: true });
    await Bun.write(join(dir, "installed", "www"), "not a folder");
    const installs = () => events.filter((e) => e.type === "renewal.started" && e.installOnly).length;

    await clock.advance(60_000);
    await quiet(s);
    expect(installs()).toBe(1);
    expect((await store.getCertState("www"))?.consecutiveFailures).toBe(1);
    for (let t = 0; t < 10; t++) {
      await clock.advance(60_000);
      await quiet(s);
    }
    // 900 s of cooldown: the ticks at +120 … +660 s hold back; +960 s tries again.
    expect(installs()).toBe(1);
    for (let t = 0; t < 5; t++) {
      await clock.advance(60_000);
      await quiet(s);
    }
    expect(installs()).toBe(2);
  });

  test("a different damage during that cooldown is repaired at the next tick", async () => {
    const s = newScheduler(watchlist([cert("www")], { checkIntervalSeconds: 60 }));
    s.start();
    await quiet(s);
    rmSync(join(dir, "installed", "www"), { recursive: true });
    await Bun.write(join(dir, "installed", "www"), "not a folder");
    const installs = () => events.filter((e) => e.type === "renewal.started" && e.installOnly).length;
    await clock.advance(60_000);
    await quiet(s);
    expect(installs()).toBe(1);
    expect((await store.getCertState("www"))?.retryAt).not.toBeNull();

    // The file goes: now nothing is installed, another reason, which an install can fix.
    rmSync(join(dir, "installed", "www"));
    await clock.advance(60_000);
    await quiet(s);
    expect(installs()).toBe(2);
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
  });
});

describe("a renewal asked for during the cooldown", () => {
  test("is refused, even when it would only put the stored certificate back; forced, it starts", async () => {
    const s = newScheduler(watchlist([cert("www")]));
    s.start();
    await quiet(s);
    const retryAt = new Date(clock.now().getTime() + 900_000);
    await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt, lastError: "fake: boom", authzFailures: 0, haltedAt: null });
    rmSync(join(dir, "installed", "www"), { recursive: true });

    expect(await s.request(runtimes.get("www")!)).toEqual({ status: "cooldown", retryAt, lastError: "fake: boom" });
    expect(runner.busy("www")).toBe(false);
    const forced = await s.request(runtimes.get("www")!, { force: true });
    expect(forced.status).toBe("started");
    await quiet(s);
  });
});

describe("a cooldown, and a config change to what the cert is ordered with", () => {
  const refused = 'acme pb: profile "tlsserver" is not offered; the CA offers: classic, shortlived';
  /** `www` ordered for one more name, from a CA that refuses its profile, as the tester's pebble did: `noRetry`, a day's cooldown. */
  function refusingWww(): CertRuntime {
    const www = cert("www");
    www.config.domains = ["www.example.com", "new.example.com"];
    www.config.caOptions = { profile: "tlsserver" };
    www.ca = {
      name: "internal",
      submit: async () => {
        throw new RotaError("profile_not_offered", refused, { noRetry: true });
      },
      awaitIssuance: async () => {
        throw new Error("never reached");
      },
    };
    return www;
  }
  /** The same names with a profile the CA offers, from a CA that issues. */
  function fixedWww(): CertRuntime {
    const www = cert("www");
    www.config.domains = ["www.example.com", "new.example.com"];
    www.config.caOptions = { profile: "shortlived" };
    return www;
  }
  /** The runner keeps the order inputs of the config it runs on, as the daemon's does (runnerSettings). */
  function keepInputs(current: () => Watchlist): void {
    runner.configure(
      { execute, policy: { baseSeconds: 900, maxSeconds: 86_400 }, maxAuthzFailures: 5, maxConcurrent: 2, timeoutSeconds: 1800, orderInputs: (id) => orderInputs(current().config, id) },
      new Set(["www"]),
    );
  }
  function capture(): { log: ReturnType<typeof createConsola>; lines: string[] } {
    const lines: string[] = [];
    return { lines, log: createConsola({ level: 5, reporters: [{ log: (o) => void lines.push(`${o.type} ${o.args.join(" ")}`) }] }) };
  }

  test("a reload that changes what it is ordered with ends the cooldown (one line says so) and the reload's look renews it; a reload that changes nothing of it does not", async () => {
    const { log, lines } = capture();
    let watch = watchlist([cert("www")]);
    keepInputs(() => watch);
    scheduler = new Scheduler({ runner, store, bus, clock, leadership: singleNode, journal: new ChallengeJournal(dir), log }, watch);
    const s = scheduler;
    s.start();
    await quiet(s);

    watch = watchlist([refusingWww()]);
    s.update(watch);
    await quiet(s);
    const failedAt = clock.now();
    const cooling = await store.getCertState("www");
    expect(cooling).toEqual({ certId: "www", consecutiveFailures: 1, retryAt: new Date(failedAt.getTime() + 86_400_000), lastError: refused, authzFailures: 0, haltedAt: null, inputs: orderInputs(watch.config, "www")! });
    expect(s.look("www")?.decision?.why).toBe("changed");

    // The check interval and the threshold are not what the CA is asked: the cooldown holds.
    await clock.advance(60_000);
    watch = watchlist([refusingWww()], { checkIntervalSeconds: 600, renewThresholdDays: 30 });
    s.update(watch);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:reload"]);
    expect(await store.getCertState("www")).toEqual(cooling);

    await clock.advance(60_000);
    watch = watchlist([fixedWww()], { checkIntervalSeconds: 600, renewThresholdDays: 30 });
    s.update(watch);
    await quiet(s);
    expect(started()).toEqual(["www:startup", "www:reload", "www:reload"]);
    expect(events.findLast((e) => e.type === "renewal.succeeded")).toMatchObject({ certId: "www" });
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
    expect(lines.filter((l) => l.includes("cooldown"))).toEqual([
      `info www: what it is ordered with changed since its renewal failed: cooldown until ${cooling!.retryAt!.toISOString()} ended, tried again at its next look if it is due`,
    ]);
  });

  test("a restart on a config edited meanwhile ends the cooldown at its first look; a halt is never ended by an edit", async () => {
    let watch = watchlist([refusingWww()]);
    keepInputs(() => watch);
    const first = newScheduler(watch);
    first.start();
    await quiet(first);
    expect((await store.getCertState("www"))?.retryAt).toEqual(new Date(clock.now().getTime() + 86_400_000));
    await first.stop();

    // The CA's section changes: the same names, another CA.
    watch = watchlist([fixedWww()]);
    watch.config.cas = [{ name: "internal", type: "local", options: { validityDays: 30 } }];
    const second = newScheduler(watch);
    second.start();
    await quiet(second);
    expect(started()).toEqual(["www:startup", "www:startup"]);
    expect((await store.getCertState("www"))?.retryAt).toBeNull();
    await second.stop();

    const haltedAt = clock.now();
    const halted = { certId: "www", consecutiveFailures: 5, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt, inputs: "an older config's" };
    await store.putCertState(halted);
    watch = watchlist([refusingWww()]);
    const third = newScheduler(watch);
    third.start();
    await quiet(third);
    expect(started()).toEqual(["www:startup", "www:startup"]);
    expect(await store.getCertState("www")).toEqual(halted);
  });
});

describe("a halted cert", () => {
  test("is not tried at any tick, even to put its stored certificate back, and the halt outlives a config edit", async () => {
    const s = newScheduler(watchlist([cert("www")]));
    s.start();
    await quiet(s);
    const haltedAt = clock.now();
    await store.putCertState({ certId: "www", consecutiveFailures: 5, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt });
    rmSync(join(dir, "installed", "www"), { recursive: true });
    const before = started().length;
    for (let i = 0; i < 3; i++) {
      await clock.advance(3600_000);
      await quiet(s);
    }
    s.update(watchlist([cert("www", 30)], { checkIntervalSeconds: 600 }));
    await clock.advance(600_000);
    await quiet(s);
    expect(started().length).toBe(before);
    expect(events.some((e) => e.type === "cert.due" && e.certId === "www" && e.at > haltedAt)).toBe(false);
    expect((await store.getCertState("www"))?.haltedAt).toEqual(haltedAt);
  });

  test("refuses a renewal asked for without force, naming the count and the last error; forced, the halt is cleared as it starts", async () => {
    const s = newScheduler(watchlist([cert("www")]));
    s.start();
    await quiet(s);
    const haltedAt = clock.now();
    await store.putCertState({ certId: "www", consecutiveFailures: 5, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt });

    const refused = { status: "halted" as const, haltedAt, failures: 5, lastError: "acme: authorization invalid" };
    expect(await s.request(runtimes.get("www")!)).toEqual(refused);
    expect(await s.request(runtimes.get("www")!, { newKey: true })).toEqual(refused);
    expect(runner.busy("www")).toBe(false);

    const forced = await s.request(runtimes.get("www")!, { force: true });
    expect(forced.status).toBe("started");
    const resumed = events.findIndex((e) => e.type === "cert.resumed");
    expect(events[resumed]).toEqual({ type: "cert.resumed", certId: "www", at: clock.now() });
    // Cleared before the renewal opens its row.
    expect(events.findIndex((e) => e.type === "renewal.started" && e.renewalId === (forced as { renewalId: string }).renewalId)).toBeGreaterThan(resumed);
    await quiet(s);
    expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
  });
});

describe("the look's targets", () => {
  test("a target that cannot be read is recorded with why, and the decision goes on the others", async () => {
    const www = cert("www");
    const unreadable: ReadableInstall = {
      name: "nas",
      install: async () => {},
      readBack: async () => {
        throw new Error("nas: permission denied");
      },
    };
    const damaged: ReadableInstall = { name: "nginx", install: async () => {}, readBack: async () => ({ state: "damaged", reason: "privkey.pem is missing" }) };
    www.installs = [unreadable, damaged, ...www.installs];
    const s = newScheduler(watchlist([www]));
    const look = await s.refresh(www);
    expect(look.decision).toMatchObject({ action: "renew", why: "damaged", moment: null, reason: "nginx: damaged: privkey.pem is missing; nothing stored to put back" });
    expect(look.error).toBe("nas: permission denied");
    expect(look.targets).toEqual([
      { target: "nas", installed: null, error: "nas: permission denied" },
      { target: "nginx", installed: null, damaged: "privkey.pem is missing" },
      { target: "files", installed: null },
    ]);
  });

  test("when no target can be read, the cert is left alone", async () => {
    const www = cert("www");
    const down = (name: string): ReadableInstall => ({
      name,
      install: async () => {},
      readBack: async () => {
        throw new Error(`${name}: unreachable`);
      },
    });
    www.installs = [down("nas"), down("k8s")];
    const look = await newScheduler(watchlist([www])).refresh(www);
    expect(look.decision).toBeNull();
    expect(look.error).toBe("nas: unreachable");
  });
});

describe("cluster mode", () => {
  let leading: boolean;
  let leader: LeaderInfo | null;
  const leadership: Leadership = {
    isLeader: () => leading,
    fence: () => (leading ? { nodeId: "nas-2", instance: "i", term: 7 } : null),
    leader: () => leader,
  };
  beforeEach(() => {
    leading = false;
    leader = { nodeId: "nas-1", term: 7, since: new Date(0), expiresAt: new Date(clock.now().getTime() + 30_000) };
  });

  function clusterScheduler(certs: CertRuntime[]): Scheduler {
    const watch = watchlist(certs);
    watch.config.cluster = { ...watch.config.cluster, enabled: true, nodeId: "nas-2" };
    scheduler = new Scheduler({ runner, store, bus, clock, leadership, journal: new ChallengeJournal(dir), log: silent }, watch);
    return scheduler;
  }

  test("a follower's ticks look at nothing and start nothing; refresh() gives the look without storing a plan", async () => {
    const www = cert("www");
    const s = clusterScheduler([www]);
    s.start();
    await quiet(s);
    await clock.advance(3600_000);
    await quiet(s);
    expect(started()).toEqual([]);
    expect(s.look("www")).toBeUndefined();

    await store.saveIssued({ certId: "www", renewalId: "r0", ...(await issuedBy(www)) });
    const look = await s.refresh(www);
    expect(look.decision).toMatchObject({ action: "install" });
    expect(s.look("www")).toBe(look);
    expect((await store.renewalPlans(["www"])).size).toBe(0);
    await quiet(s);
    expect(started()).toEqual([]);
  });

  test("request() on a follower names the leader and its term, or no leader; nothing starts", async () => {
    const www = cert("www");
    const s = clusterScheduler([www]);
    expect(await s.request(www, { force: true })).toEqual({ status: "not_leader", leader: "nas-1", term: 7 });
    leader = null;
    expect(await s.request(www)).toEqual({ status: "not_leader", leader: null, term: null });
    await quiet(s);
    expect(started()).toEqual([]);
  });

  test("kick() sweeps at once; the leader orders, but never launches an install-only decision, by tick or by request", async () => {
    const www = cert("www");
    const s = clusterScheduler([www]);
    // Leading before start(): the startup tick is the first look, not a second one.
    leading = true;
    s.kick();
    await quiet(s);
    expect(started()).toEqual([]);
    leading = false;
    s.start();
    await quiet(s);
    expect(started()).toEqual([]);

    leading = true;
    s.kick();
    await quiet(s);
    expect(started()).toEqual(["www:scheduled"]);
    expect(events.filter((e) => e.type === "renewal.succeeded")).toHaveLength(1);
    expect((await store.renewalPlans(["www"])).get("www")).toBeDefined();

    rmSync(join(dir, "installed"), { recursive: true });
    await clock.advance(3600_000);
    await quiet(s);
    expect(started()).toEqual(["www:scheduled"]);
    expect(s.look("www")?.decision).toMatchObject({ action: "install" });
    expect(await s.request(www)).toMatchObject({
      status: "not_due",
      reason: expect.stringMatching(/^files does not serve the newest certificate \(serial \w+\); in cluster mode the install sync puts the stored certificate back$/),
    });
    // Forced, it is an order: the leader's to place.
    expect(await s.request(www, { force: true })).toMatchObject({ status: "started", installOnly: false });
    await quiet(s);
    expect(started()).toEqual(["www:scheduled", "www:manual"]);
  });
});

/** A certificate the cert's CA signs for its key, as the leader would have stored it. */
async function issuedBy(c: CertRuntime) {
  const key = loadOrCreateKey(c.config.keyPath, c.config.keyType).pem;
  const sub = await c.ca.submit({ certId: c.config.id, domains: c.config.domains, csrPem: await createCsr(c.config.domains, key), preferredKinds: [] }, new AbortController().signal);
  const leaf = await c.ca.awaitIssuance(sub.order, new AbortController().signal);
  const v = await verifyIssued({ ...leaf, privateKeyPem: key, domains: c.config.domains, now: clock.now() });
  return { ...leaf, serial: v.serial, notBefore: v.notBefore, notAfter: v.notAfter, issuedAt: clock.now() };
}
