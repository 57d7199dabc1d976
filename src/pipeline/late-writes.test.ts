/**
 * @module A renewal whose DNS write gets no reply in time, with the real Namecheap and
 * Cloudflare backends over their fakes (the fake holds the write, then carries it out, as the
 * vendor may after its client gave up): the publish step fails at its (injected) limit, but
 * the write is not abandoned. The zone stays locked until it ends, the renewal's remove and
 * the daemon's sweep cannot clear the journal meanwhile, and once it has ended the challenge
 * is removed from the zone as the write left it, by the worker itself, and the journal forgotten.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeCloudflare, cloudflareId } from "../../test/fakes/cloudflare.ts";
import { startFakeNamecheap, type FakeHost } from "../../test/fakes/namecheap.ts";
import { createCloudflareDcv } from "../backends/dcv/cloudflare/cloudflare.ts";
import { createNamecheapDcv } from "../backends/dcv/namecheap/namecheap.ts";
import type { CABackend, DcvBackend, DcvChallenge } from "../backends/types.ts";
import { systemClock } from "../clock.ts";
import { RotaError } from "../errors.ts";
import { EventBus } from "../events.ts";
import { createLogger } from "../log.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import { propagationPolicy } from "../testing/propagation.ts";
import { ChallengeJournal, configuredDcvs } from "./journal.ts";
import { runRenewal } from "./renewer.ts";
import type { CertRuntime } from "./runtime.ts";

/** The step gives up on a reply after this; the request itself is waited for far longer. */
const LIMITS = { replyMs: 200, settleMs: 20_000 };
const silent = createLogger({ level: "silent" });
/** Delegation and the propagate step are not what this is about. */
const policy = propagationPolicy({ check: false, followCname: false });

let dir: string;
let store: SqliteAuditStore;
let bus: EventBus;
let journal: ChallengeJournal;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-late-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus((err) => {
    throw err;
  });
  subscribeAudit(bus, store);
  journal = new ChallengeJournal(dir);
});
afterEach(async () => {
  await bus.drain();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A CA that hands out `challenges` and is never asked to sign: publish fails first. */
function caWith(challenges: DcvChallenge[]): CABackend {
  return {
    name: "ca",
    async submit() {
      return { order: null, challenges };
    },
    async awaitIssuance() {
      throw new RotaError("unexpected", "ca: the CA was told although publish failed");
    },
  };
}

function runtime(domain: string, ca: CABackend, dcv: DcvBackend): CertRuntime {
  return {
    config: { id: "www", domains: [domain], ca: ca.name, dcv: dcv.name, install: [], keyPath: join(dir, "www.key"), keyType: "ecdsa-p256", keyRotation: "never", renewThresholdDays: undefined },
    ca,
    dcv,
    installs: [],
  };
}

/** Runs one renewal; resolves with its steps (status and message) and the clean-up it left running. */
async function renew(cert: CertRuntime) {
  const lingering: Promise<void>[] = [];
  bus.emit({ type: "renewal.started", renewalId: "r1", certId: "www", trigger: "manual", installOnly: false, reason: null, at: new Date() });
  const outcome = await runRenewal(cert, { renewalId: "r1", trigger: "manual", signal: new AbortController().signal }, { store, bus, clock: systemClock, journal, linger: (w) => lingering.push(w) });
  await bus.drain();
  const steps = Object.fromEntries((await store.getRenewal("r1"))!.events.map((e) => [e.step, `${e.status}: ${e.message}`]));
  return { outcome, steps, lingering };
}

const SEEDED: FakeHost[] = [
  { name: "@", type: "A", address: "192.0.2.1", mxPref: "10", ttl: "1800" },
  { name: "@", type: "MX", address: "mx1.example.net.", mxPref: "5", ttl: "3600" },
  { name: "@", type: "TXT", address: "v=spf1 include:_spf.example.net +a ~all", mxPref: "10", ttl: "1799" },
];

test("Namecheap: a setHosts without a reply in time fails publish but keeps the lock and the journal; once it lands, the zone as it left it loses only our TXT", async () => {
  const fake = startFakeNamecheap();
  try {
    process.env.ROTA_TEST_LATE_NC_KEY = fake.apiKey;
    fake.zones.set("example.co.uk", { emailType: "MX", isUsingOurDns: true, hosts: SEEDED.map((h) => ({ ...h })) });
    const cfg = { apiUser: fake.apiUser, username: fake.apiUser, apiKey: { from: "env" as const, name: "ROTA_TEST_LATE_NC_KEY" }, clientIp: fake.clientIp, apiUrl: fake.url, propagation: policy };
    // The renewal's worker and another process (the daemon's sweep, another cert's renewal): one state folder.
    const ctx = { stateDir: dir, clock: systemClock, log: silent, emit: () => {}, withheldEnv: () => [] };
    const worker = createNamecheapDcv("nc", cfg, ctx, LIMITS);
    const other = createNamecheapDcv("nc", cfg, ctx, LIMITS);
    const ours: DcvChallenge = { kind: "dns-01", recordName: "_acme-challenge.www.example.co.uk", recordValue: "b3Vycw", ttl: 60 };
    const hold = fake.holdNextSetHosts();

    const { outcome, steps, lingering } = await renew(runtime("www.example.co.uk", caWith([ours]), worker));
    expect(outcome.ok).toBe(false);
    expect(steps.publish).toBe(
      "failed: namecheap nc: namecheap.domains.dns.setHosts example.co.uk: no reply within 0.2 s; the request stays open (up to 20 s) holding the domain's lock, and the challenge is removed once it has ended",
    );
    expect(steps.remove).toBe("failed: namecheap nc: example.co.uk: a setHosts sent earlier still awaits Namecheap's reply; nothing read or written until it ends");
    // Not forgotten by a remove that ran while the write could still land.
    expect(journal.entries().map((e) => e.renewalId)).toEqual(["r1"]);
    expect(lingering).toHaveLength(1);
    // The daemon's sweep right after the renewal cannot take the lock either: the entry stays.
    expect(await journal.recover(configuredDcvs(new Map([["nc", other]])), silent, AbortSignal.timeout(150), { now: new Date(), retryBaseMs: 60_000 })).toBe(0);
    expect(journal.entries()).toHaveLength(1);
    // Another cert publishes to the zone meanwhile: it waits for the lock rather than read the zone before the write lands.
    const theirs: DcvChallenge = { kind: "dns-01", recordName: "_acme-challenge.api.example.co.uk", recordValue: "dGhlaXJz", ttl: 60 };
    const publishing = other.publish(theirs, AbortSignal.timeout(10_000));
    expect(fake.requests.map((r) => r.command)).toEqual(["namecheap.domains.dns.getHosts", "namecheap.domains.dns.setHosts"]);

    hold.release();
    await hold.done;
    // Nobody read the zone while the write was held: every later read sees what it wrote.
    expect(fake.requests).toHaveLength(2);
    await publishing;
    await Promise.all(lingering);

    expect(journal.entries()).toEqual([]);
    // Our TXT gone, the record added meanwhile kept, every other record as it was.
    expect(fake.zones.get("example.co.uk")?.hosts).toEqual([...SEEDED, { name: "_acme-challenge.api", type: "TXT", address: "dGhlaXJz", mxPref: "10", ttl: "60" }]);
    const sets = fake.requests.filter((r) => r.command === "namecheap.domains.dns.setHosts");
    expect(sets).toHaveLength(3);
    expect(sets.at(-1)?.params.EmailType).toBe("MX");
  } finally {
    await fake.stop();
  }
});

test("Cloudflare: a create without a reply in time fails publish but keeps the lock and the journal; once it is made, the record is deleted", async () => {
  const zone = { id: cloudflareId(), name: "example.com" };
  const token = "cf-late-token-0123";
  process.env.ROTA_TEST_LATE_CF_TOKEN = token;
  const fake = startFakeCloudflare({ token, zones: [zone] });
  try {
    const cfg = { apiUrl: fake.url, apiToken: { from: "env" as const, name: "ROTA_TEST_LATE_CF_TOKEN" }, zoneId: zone.id, propagation: policy };
    const worker = createCloudflareDcv("cf", cfg, { clock: systemClock, stateDir: dir }, LIMITS);
    const daemonSide = createCloudflareDcv("cf", cfg, { clock: systemClock, stateDir: dir }, LIMITS);
    const ours: DcvChallenge = { kind: "dns-01", recordName: "_acme-challenge.www.example.com", recordValue: "bGF0ZQ", ttl: 60 };
    const hold = fake.holdNextCreate();

    const { outcome, steps, lingering } = await renew(runtime("www.example.com", caWith([ours]), worker));
    expect(outcome.ok).toBe(false);
    expect(steps.publish).toBe(
      "failed: cloudflare cf: creating _acme-challenge.www.example.com: no reply in 0.2 s; the request stays open (up to 20 s) holding the zone's lock, and the challenge is removed once it has ended",
    );
    expect(steps.remove).toBe(`failed: cloudflare cf: zone ${zone.id}: a record create sent earlier still awaits Cloudflare's reply; nothing listed or deleted until it ends`);
    expect(journal.entries().map((e) => e.renewalId)).toEqual(["r1"]);
    expect(await journal.recover(configuredDcvs(new Map([["cf", daemonSide]])), silent, AbortSignal.timeout(150), { now: new Date(), retryBaseMs: 60_000 })).toBe(0);
    expect(journal.entries()).toHaveLength(1);
    expect(lingering).toHaveLength(1);

    hold.release();
    await hold.done;
    await Promise.all(lingering);

    expect(fake.records()).toEqual([]);
    expect(journal.entries()).toEqual([]);
    // The pre-publish list, the create, then, once it was made, the list and the delete.
    expect(fake.requests.map((r) => r.method)).toEqual(["GET", "POST", "GET", "DELETE"]);
  } finally {
    await fake.stop();
  }
});
