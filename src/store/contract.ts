/**
 * @module The AuditStore contract as a test suite: SQLite (`sqlite.test.ts`) and SurrealDB
 * (`surreal.test.ts`) each run `runAuditStoreContract`, so both stores answer every call
 * alike, down to the order of ties and the rounding of durations.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { CertSummary } from "../crypto/summary.ts";
import { x509 } from "../crypto/x509.ts";
import type { Trigger } from "../events.ts";
import type { AlertDelivery, AuditStore, IssuedCert, RenewalPlan, RenewalQuery, RenewalStatus, StepEvent } from "./types.ts";

export interface AuditSubject {
  store: AuditStore;
  /** Closes `store` and opens the same database again. */
  reopen(): Promise<AuditStore>;
  /** How many step rows the database holds, whatever renewal they belong to. */
  stepRows(): Promise<number>;
  /** What the store records as each renewal's `node`: null for SQLite, the owner for a SurrealDB store. */
  node: string | null;
  cleanup(): Promise<void>;
}

const T0 = new Date("2030-01-01T00:00:00Z");
const DAY = 86_400_000;
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const step = (name: StepEvent["step"], seconds: number, status: StepEvent["status"] = "ok"): StepEvent => ({
  step: name,
  at: at(seconds),
  status,
  message: `${name} ${status}`,
  durationMs: 12.6,
});

function issued(serial: string, notAfterDays: number, issuedSeconds = 0): IssuedCert {
  return {
    certId: "www",
    renewalId: `r-${serial}`,
    leafPem: `leaf ${serial}`,
    chainPem: `chain ${serial}`,
    serial,
    notBefore: T0,
    notAfter: new Date(T0.getTime() + notAfterDays * DAY),
    issuedAt: at(issuedSeconds),
  };
}

/** A real self-signed leaf with these names and serial, valid 90 days from T0. */
export async function leaf(serialHex: string, names: string[]): Promise<string> {
  const x = await x509();
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex,
    name: `CN=${names[0]}`,
    notBefore: T0,
    notAfter: new Date(T0.getTime() + 90 * DAY),
    keys,
    signingAlgorithm: alg,
    extensions: [new x.SubjectAlternativeNameExtension(names.map((value) => ({ type: "dns" as const, value })))],
  });
  return cert.toString("pem");
}

const delivery = (alertId: string, seconds: number, over: Partial<AlertDelivery> = {}): AlertDelivery => ({
  alertId,
  sink: "mail",
  event: "renewal.failed",
  certId: "www",
  at: at(seconds),
  outcome: "delivered",
  error: null,
  attempts: 1,
  ...over,
});

export function runAuditStoreContract(name: string, make: () => Promise<AuditSubject>): void {
  describe(`AuditStore contract: ${name}`, () => {
    let subject: AuditSubject;
    let store: AuditStore;

    beforeEach(async () => {
      subject = await make();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    async function open(id: string, certId: string, startedSeconds: number, installOnly = false, reason: string | null = null): Promise<void> {
      await store.openRenewal({ id, certId, trigger: "scheduled", installOnly, reason, startedAt: at(startedSeconds) });
    }

  describe("renewals", () => {
    test("open, steps in order, close: read back whole", async () => {
      await open("r1", "www", 0, true, "files: damaged: privkey.pem is missing");
      await store.addStep("r1", step("key", 1));
      await store.addStep("r1", step("csr", 2));
      await store.addStep("r1", step("submit", 3, "failed"));
      await store.closeRenewal("r1", "failed", at(4), "acme: boom");

      expect(await store.getRenewal("r1")).toEqual({
        id: "r1",
        certId: "www",
        trigger: "scheduled",
        installOnly: true,
        reason: "files: damaged: privkey.pem is missing",
        status: "failed",
        startedAt: at(0),
        finishedAt: at(4),
        error: "acme: boom",
        node: subject.node,
        events: [
          { step: "key", at: at(1), status: "ok", message: "key ok", durationMs: 13 },
          { step: "csr", at: at(2), status: "ok", message: "csr ok", durationMs: 13 },
          { step: "submit", at: at(3), status: "failed", message: "submit failed", durationMs: 13 },
        ],
      });
    });

    test("a running renewal reads back as running, with no end", async () => {
      await open("r1", "www", 0);
      expect(await store.getRenewal("r1")).toMatchObject({ status: "running", finishedAt: null, error: null, events: [], installOnly: false, reason: null });
    });

    test("an unknown renewal is null", async () => {
      expect(await store.getRenewal("nope")).toBeNull();
    });

    test("closing twice keeps the first outcome", async () => {
      await open("r1", "www", 0);
      await store.closeRenewal("r1", "succeeded", at(1), null);
      await store.closeRenewal("r1", "failed", at(2), "late");
      expect(await store.getRenewal("r1")).toMatchObject({ status: "succeeded", finishedAt: at(1), error: null });
    });

    test("list: newest first, limited, filtered by cert", async () => {
      await open("a1", "a", 10);
      await open("b1", "b", 20);
      await open("a2", "a", 30);
      await open("a3", "a", 30); // same start: the later insert counts as newer
      await store.addStep("a2", step("key", 31));

      const ids = async (q: { certId?: string; limit: number }) => (await store.listRenewals(q)).map((r) => r.id);
      expect(await ids({ limit: 10 })).toEqual(["a3", "a2", "b1", "a1"]);
      expect(await ids({ limit: 2 })).toEqual(["a3", "a2"]);
      expect(await ids({ certId: "a", limit: 10 })).toEqual(["a3", "a2", "a1"]);
      expect(await ids({ certId: "b", limit: 10 })).toEqual(["b1"]);
      expect(await ids({ certId: "nope", limit: 10 })).toEqual([]);
      expect((await store.listRenewals({ limit: 10 })).find((r) => r.id === "a2")!.events.map((e) => e.step)).toEqual(["key"]);
    });

    test("search: statuses, triggers and a time window combine", async () => {
      const add = async (id: string, certId: string, seconds: number, trigger: Trigger, status: RenewalStatus | "running") => {
        await store.openRenewal({ id, certId, trigger, installOnly: false, reason: null, startedAt: at(seconds) });
        if (status !== "running") await store.closeRenewal(id, status, at(seconds + 1), null);
      };
      await add("a1", "a", 10, "scheduled", "succeeded");
      await add("a2", "a", 20, "manual", "failed");
      await add("b1", "b", 30, "startup", "interrupted");
      await add("b2", "b", 40, "manual", "running");
      await store.addStep("a2", step("key", 21));
      const ids = async (q: Partial<RenewalQuery>) => (await store.listRenewals({ limit: 10, ...q })).map((r) => r.id);
      expect(await ids({ statuses: ["failed", "interrupted"] })).toEqual(["b1", "a2"]);
      expect(await ids({ triggers: ["manual"] })).toEqual(["b2", "a2"]);
      expect(await ids({ triggers: ["manual"], certId: "a" })).toEqual(["a2"]);
      expect(await ids({ since: at(20), until: at(40) })).toEqual(["b1", "a2"]);
      expect(await ids({ since: at(21) })).toEqual(["b2", "b1"]);
      expect(await ids({ statuses: [] })).toEqual([]);
      expect((await store.listRenewals({ limit: 10, statuses: ["failed"] }))[0]!.events.map((e) => e.step)).toEqual(["key"]);
    });

    test("before: pages newest first with no gap and no repeat, however many rows arrive meanwhile", async () => {
      for (let i = 0; i < 5; i++) await open(`r${i}`, "a", i < 3 ? 10 : 20 + i); // r0..r2 share a start
      const first = (await store.listRenewals({ limit: 2 })).map((r) => r.id);
      expect(first).toEqual(["r4", "r3"]);
      await open("later", "a", 99);
      await open("same", "a", 10); // the same start as r0..r2, inserted after them: newer than they are
      const second = (await store.listRenewals({ limit: 2, before: "r3" })).map((r) => r.id);
      expect(second).toEqual(["same", "r2"]);
      expect((await store.listRenewals({ limit: 10, before: "r2" })).map((r) => r.id)).toEqual(["r1", "r0"]);
      expect(await store.listRenewals({ limit: 10, before: "r0" })).toEqual([]);
      expect(await store.listRenewals({ limit: 10, before: "r2", certId: "b" })).toEqual([]);
    });

    test("a filter and pages combine: every matching row once, newest first, however few match", async () => {
      // Few rows match, spread among many: a store that applied its filter after the page's
      // LIMIT (engine 3.0.2 does, reading an index in order) would return short or empty pages.
      for (let i = 0; i < 40; i++) {
        await open(`r${i}`, i % 2 === 0 ? "a" : "b", i);
        if (i % 10 === 9) await store.closeRenewal(`r${i}`, "failed", at(i + 1), "boom");
      }
      const pages: string[][] = [];
      let before: string | undefined;
      for (;;) {
        const page = (await store.listRenewals({ limit: 3, statuses: ["failed"], ...(before ? { before } : {}) })).map((r) => r.id);
        if (page.length === 0) break;
        pages.push(page);
        before = page[page.length - 1];
      }
      expect(pages).toEqual([["r39", "r29", "r19"], ["r9"]]);
      expect((await store.listRenewals({ limit: 4, certId: "b", before: "r31" })).map((r) => r.id)).toEqual(["r29", "r27", "r25", "r23"]);
      expect((await store.listRenewals({ limit: 2, before: "r31" })).map((r) => r.id)).toEqual(["r30", "r29"]);
    });

    test("listRenewalHeads: the rows listRenewals gives for the same query, without their steps", async () => {
      for (let i = 0; i < 6; i++) {
        await open(`r${i}`, i % 2 === 0 ? "a" : "b", i < 2 ? 10 : 10 + i);
        await store.addStep(`r${i}`, step("key", 10 + i));
        if (i % 3 === 0) await store.closeRenewal(`r${i}`, i === 3 ? "failed" : "succeeded", at(20 + i), i === 3 ? "boom" : null);
      }
      const queries: RenewalQuery[] = [{ limit: 10 }, { limit: 2, certId: "a" }, { limit: 10, statuses: ["failed", "succeeded"] }, { limit: 2, before: "r4" }, { limit: 10, before: "nope" }];
      for (const q of queries) {
        const full = await store.listRenewals(q);
        expect(await store.listRenewalHeads(q)).toEqual(full.map(({ events: _, ...head }) => head));
      }
      expect((await store.listRenewals({ limit: 10 })).every((r) => r.events.length === 1)).toBe(true);
      expect((await store.listRenewalHeads({ limit: 10 })).map((r) => "events" in r)).toEqual(Array(6).fill(false));
    });

    test("before: an id not in the store matches nothing", async () => {
      await open("r1", "a", 10);
      expect(await store.listRenewals({ limit: 10, before: "nope" })).toEqual([]);
    });

    test("latestRenewals: the newest of each cert, without its steps", async () => {
      await open("a1", "a", 10);
      await open("a2", "a", 30);
      await open("b1", "b", 20);
      await store.addStep("a2", step("key", 31));
      const latest = await store.latestRenewals(["a", "b"]);
      expect([...latest.keys()].sort()).toEqual(["a", "b"]);
      expect(latest.get("a")!.id).toBe("a2");
      expect("events" in latest.get("a")!).toBe(false);
      expect(latest.get("b")!.id).toBe("b1");
      const some = await store.latestRenewals(["a", "nope"]);
      expect([...some.keys()]).toEqual(["a"]);
      expect(some.get("a")!.id).toBe("a2");
      expect((await store.latestRenewals([])).size).toBe(0);
    });

    test("certStates: every cert's failure state in one read", async () => {
      await store.putCertState({ certId: "a", consecutiveFailures: 2, retryAt: at(5), lastError: "boom", authzFailures: 0, haltedAt: null });
      await store.putCertState({ certId: "b", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
      const states = await store.certStates();
      expect(states.get("a")).toEqual({ certId: "a", consecutiveFailures: 2, retryAt: at(5), lastError: "boom", authzFailures: 0, haltedAt: null });
      expect(states.get("b")?.retryAt).toBeNull();
      expect(states.has("c")).toBe(false);
      expect([...(await store.certStates(["b", "c"])).keys()]).toEqual(["b"]);
    });

    test("interruptRunning closes only the rows still running", async () => {
      await open("done", "a", 0);
      await store.closeRenewal("done", "succeeded", at(1), null);
      await open("left1", "a", 2);
      await open("left2", "b", 3);

      expect(await store.interruptRunning(at(100))).toBe(2);
      expect(await store.getRenewal("left1")).toMatchObject({
        status: "interrupted",
        finishedAt: at(100),
        error: "the daemon stopped during this renewal",
      });
      expect((await store.getRenewal("done"))!.status).toBe("succeeded");
      expect(await store.interruptRunning(at(200))).toBe(0);
    });
  });

  describe("issued certificates", () => {
    test("latestIssued is the one stored last, not the one that expires last", async () => {
      expect(await store.latestIssued("www")).toBeNull();
      await store.saveIssued(issued("0a", 90, 1));
      await store.saveIssued(issued("0c", 30, 3)); // stored later, but expires sooner: a lifetime cut
      expect(await store.latestIssued("www")).toEqual(issued("0c", 30, 3));
      await store.saveIssued(issued("0b", 60, 2)); // stored last, its clock behind
      expect(await store.latestIssued("www")).toEqual(issued("0b", 60, 2));
      expect(await store.latestIssued("other")).toBeNull();
    });

    test("a 90-day then a 30-day certificate: the 30-day one is the newest, also after a reopen", async () => {
      await store.saveIssued(issued("0a", 90, 1));
      await store.saveIssued({ ...issued("0b", 30, 2), notBefore: at(2) });
      await store.saveIssued({ ...issued("0c", 90, 1), certId: "other" });
      expect((await store.latestIssued("www"))!.serial).toBe("0b");
      store = await subject.reopen();
      expect((await store.latestIssued("www"))!.serial).toBe("0b");
      expect((await store.latestIssued("other"))!.serial).toBe("0c");
    });

    test("saving the same serial twice replaces it", async () => {
      await store.saveIssued(issued("0a", 90, 1));
      await store.saveIssued({ ...issued("0a", 90, 5), chainPem: "new chain" });
      expect(await store.latestIssued("www")).toMatchObject({ chainPem: "new chain", issuedAt: at(5) });
    });
  });

  describe("installs per target", () => {
    test("lastInstalled is the stored certificate of the serial last installed there, per target", async () => {
      expect(await store.lastInstalled("www", "files")).toBeNull();
      await store.saveIssued(issued("0a", 90, 1));
      await store.saveIssued(issued("0b", 60, 2));
      await store.saveInstalled({ certId: "www", target: "files", serial: "0a", installedAt: at(3) });
      await store.saveInstalled({ certId: "www", target: "nas", serial: "0a", installedAt: at(3) });
      await store.saveInstalled({ certId: "www", target: "files", serial: "0b", installedAt: at(4) });
      expect(await store.lastInstalled("www", "files")).toEqual(issued("0b", 60, 2));
      expect(await store.lastInstalled("www", "nas")).toEqual(issued("0a", 90, 1));
      expect(await store.lastInstalled("www", "other")).toBeNull();
      expect(await store.lastInstalled("api", "files")).toBeNull();
    });

    test("a serial whose issued row is missing reads as nothing installed", async () => {
      await store.saveInstalled({ certId: "www", target: "files", serial: "0f", installedAt: at(1) });
      expect(await store.lastInstalled("www", "files")).toBeNull();
    });
  });

  describe("prune", () => {
    const CONFIGURED = ["www", "a", "b", "c", "other"];
    const closed = async (id: string, certId: string, startedSeconds: number) => {
      await open(id, certId, startedSeconds);
      await store.addStep(id, step("key", startedSeconds + 1));
      await store.closeRenewal(id, "succeeded", at(startedSeconds + 2), null);
    };

    test("old finished renewals go with their steps; each cert's newest and running rows stay", async () => {
      await closed("a1", "a", 10);
      await closed("a2", "a", 20);
      await closed("a3", "a", 30);
      await closed("b1", "b", 10); // old, but b's newest
      await open("c1", "c", 5); // old, still running
      await open("c2", "c", 50);

      expect(await store.prune(at(25), CONFIGURED)).toEqual({ renewals: 2, steps: 2, issued: 0, installs: 0, alerts: 0 });
      expect((await store.listRenewals({ limit: 10 })).map((r) => r.id).sort()).toEqual(["a3", "b1", "c1", "c2"]);
      expect(await subject.stepRows()).toBe(2);
      expect(await store.prune(at(25), CONFIGURED)).toEqual({ renewals: 0, steps: 0, issued: 0, installs: 0, alerts: 0 });
    });

    test("old issued certificates go; the one latestIssued returns stays however old", async () => {
      await store.saveIssued(issued("0a", 90, 1)); // the latest notAfter
      await store.saveIssued(issued("0c", 60, 100)); // recent
      await store.saveIssued(issued("0b", 30, 2)); // stored last: the newest
      await store.saveIssued({ ...issued("0d", 10, 1), certId: "other" });

      expect(await store.prune(at(50), CONFIGURED)).toEqual({ renewals: 0, steps: 0, issued: 1, installs: 0, alerts: 0 });
      expect((await store.latestIssued("www"))!.serial).toBe("0b");
      expect((await store.latestIssued("other"))!.serial).toBe("0d");
      expect(await store.prune(at(1000), CONFIGURED)).toEqual({ renewals: 0, steps: 0, issued: 1, installs: 0, alerts: 0 });
      expect((await store.latestIssued("www"))!.serial).toBe("0b");
    });

    test("a certificate a target is recorded to serve stays however old", async () => {
      await store.saveIssued(issued("0a", 30, 1));
      await store.saveIssued(issued("0b", 90, 2));
      await store.saveInstalled({ certId: "www", target: "nas", serial: "0a", installedAt: at(3) });
      expect(await store.prune(at(1000), CONFIGURED)).toEqual({ renewals: 0, steps: 0, issued: 0, installs: 0, alerts: 0 });
      expect((await store.lastInstalled("www", "nas"))!.serial).toBe("0a");
    });

    test("install records of certs no longer configured go, with the certificates only they kept", async () => {
      await store.saveIssued(issued("0a", 30, 1));
      await store.saveIssued(issued("0b", 90, 2));
      await store.saveIssued({ ...issued("1a", 30, 1), certId: "gone" });
      await store.saveIssued({ ...issued("1b", 90, 2), certId: "gone" });
      await store.saveInstalled({ certId: "www", target: "nas", serial: "0a", installedAt: at(3) });
      await store.saveInstalled({ certId: "gone", target: "nas", serial: "1a", installedAt: at(3) });
      await store.saveInstalled({ certId: "gone", target: "files", serial: "1b", installedAt: at(3) });
      expect(await store.prune(at(1000), ["www"])).toEqual({ renewals: 0, steps: 0, issued: 1, installs: 2, alerts: 0 });
      expect((await store.lastInstalled("www", "nas"))!.serial).toBe("0a");
      expect(await store.lastInstalled("gone", "nas")).toBeNull();
      expect((await store.latestIssued("gone"))!.serial).toBe("1b");
    });

    test("alert delivery records older than the cut-off go; newer ones stay", async () => {
      const delivery = (id: string, t: number) => store.recordDelivery({ alertId: id, sink: "mail", event: "renewal.failed", certId: "www", at: at(t), outcome: "delivered", error: null, attempts: 1 });
      await delivery("old", 10);
      await delivery("new", 40);
      expect(await store.prune(at(25), CONFIGURED)).toMatchObject({ alerts: 1 });
      expect((await store.listDeliveries(10)).map((d) => d.alertId)).toEqual(["new"]);
    });
  });

  describe("cert state", () => {
    test("round-trips, null retryAt included, and is replaced on put", async () => {
      expect(await store.getCertState("www")).toBeNull();
      await store.putCertState({ certId: "www", consecutiveFailures: 3, retryAt: at(3600), lastError: "acme: rate limited", authzFailures: 0, haltedAt: null });
      expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 3, retryAt: at(3600), lastError: "acme: rate limited", authzFailures: 0, haltedAt: null });
      await store.putCertState({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
      expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
    });

    test("keeps the failed renewal's order inputs beside the cooldown, and forgets them when put without", async () => {
      const cooling = { certId: "www", consecutiveFailures: 1, retryAt: at(900), lastError: "acme le: boom", authzFailures: 0, haltedAt: null, inputs: "pR0f1le-a" };
      await store.putCertState(cooling);
      expect(await store.getCertState("www")).toEqual(cooling);
      expect((await store.certStates()).get("www")).toEqual(cooling);
      await store.putCertState({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
      expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 0, retryAt: null, lastError: null, authzFailures: 0, haltedAt: null });
    });
  });

    describe("renewal plans", () => {
      const h = (hours: number) => new Date(T0.getTime() + hours * 3_600_000);
      const lifetime: RenewalPlan = { certId: "www", serial: "0a", renewAt: h(1440), reason: "lifetime", ari: null };
      const advised: RenewalPlan = {
        certId: "api",
        serial: "0b",
        renewAt: h(1400),
        reason: "ari",
        ari: { certId: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", window: { start: h(1390), end: h(1410) }, explanationUrl: "https://ca.example/why", polledAt: h(0), nextPollAt: h(6), error: null },
      };
      const noAri: RenewalPlan = {
        certId: "old",
        serial: "0c",
        renewAt: h(1000),
        reason: "threshold",
        ari: { certId: null, window: null, explanationUrl: null, polledAt: h(0), nextPollAt: h(24), error: "acme le: the directory offers no renewalInfo" },
      };

      test("plans round-trip, with and without ARI advice, read in bulk for the certs asked", async () => {
        for (const p of [lifetime, advised, noAri]) await store.putRenewalPlan(p);
        expect(await store.renewalPlans(["www", "api", "old", "absent"])).toEqual(new Map([["www", lifetime], ["api", advised], ["old", noAri]]));
        expect([...(await store.renewalPlans(["api"])).keys()]).toEqual(["api"]);
        expect((await store.renewalPlans([])).size).toBe(0);
      });

      test("a plan replaces the cert's previous one", async () => {
        await store.putRenewalPlan(advised);
        const next: RenewalPlan = { ...advised, serial: "0d", ari: { ...advised.ari!, window: null, error: "HTTP 500" } };
        await store.putRenewalPlan(next);
        expect(await store.renewalPlans(["api"])).toEqual(new Map([["api", next]]));
      });
    });

    test("cert state keeps authorization failures and the halt", async () => {
      await store.putCertState({ certId: "www", consecutiveFailures: 3, retryAt: null, lastError: "acme: invalid", authzFailures: 5, haltedAt: at(1000) });
      expect(await store.getCertState("www")).toEqual({ certId: "www", consecutiveFailures: 3, retryAt: null, lastError: "acme: invalid", authzFailures: 5, haltedAt: at(1000) });
      expect((await store.certStates(["www"])).get("www")).toMatchObject({ authzFailures: 5, haltedAt: at(1000) });
    });

    describe("survives reopening", () => {
      test("renewals and cert state read back from a new store on the same database", async () => {
        await open("r1", "www", 0);
        await store.putCertState({ certId: "www", consecutiveFailures: 1, retryAt: at(900), lastError: "x", authzFailures: 0, haltedAt: null });
        store = await subject.reopen();
        expect((await store.getRenewal("r1"))!.certId).toBe("www");
        expect((await store.getCertState("www"))!.consecutiveFailures).toBe(1);
      });
    });

    describe("summaries", () => {
      test("the newest issued certificate's summary, and a target's last install, read without PEMs", async () => {
        const cert = (certId: string, serial: string, leafPem: string, days: number): IssuedCert => ({
          certId,
          renewalId: `r-${serial}`,
          leafPem,
          chainPem: "chain",
          serial,
          notBefore: T0,
          notAfter: new Date(T0.getTime() + days * DAY),
          issuedAt: T0,
        });
        await store.saveIssued(cert("www", "0a", await leaf("0a", ["www.example.com", "example.com"]), 60));
        await store.saveIssued(cert("www", "0b", await leaf("0b", ["www.example.com"]), 90));
        const newest: CertSummary = { serial: "0b", notBefore: T0, notAfter: new Date(T0.getTime() + 90 * DAY), keyType: "ecdsa-p256", names: ["www.example.com"] };
        await store.saveIssued(cert("api", "0c", await leaf("0c", ["api.example.com"]), 30));
        expect(await store.latestIssuedSummaries(["www", "other", "api"])).toEqual(
          new Map([
            ["www", newest],
            ["api", { ...newest, serial: "0c", notAfter: new Date(T0.getTime() + 30 * DAY), names: ["api.example.com"] }],
          ]),
        );
        expect((await store.latestIssuedSummaries([])).size).toBe(0);
        expect(await store.lastInstalledSummary("www", "files")).toBeNull();
        await store.saveInstalled({ certId: "www", target: "files", serial: "0a", installedAt: T0 });
        expect(await store.lastInstalledSummary("www", "files")).toEqual({ ...newest, serial: "0a", notAfter: new Date(T0.getTime() + 60 * DAY), names: ["www.example.com", "example.com"] });
        // A lifetime cut: the 30-day certificate stored last is the newest, though the 90-day one outlives it.
        await store.saveIssued(cert("www", "0d", await leaf("0d", ["www.example.com"]), 30));
        expect((await store.latestIssuedSummaries(["www"])).get("www")).toEqual({ ...newest, serial: "0d", notAfter: new Date(T0.getTime() + 30 * DAY) });
      });

      test("a leaf that cannot be parsed has no summary, as the scheduler counted it before", async () => {
        await store.saveIssued({ ...issued("0a", 90), leafPem: "not a pem" });
        expect((await store.latestIssuedSummaries(["www"])).size).toBe(0);
        expect((await store.latestIssued("www"))!.leafPem).toBe("not a pem");
      });

      test("each distinct chain is read back with every certificate it issued", async () => {
        for (let i = 0; i < 3; i++) await store.saveIssued({ ...issued("0a", 90), certId: `c${i}`, chainPem: "intermediate A" });
        await store.saveIssued({ ...issued("0b", 120), certId: "c0", chainPem: "intermediate B" });
        expect((await store.latestIssued("c2"))!.chainPem).toBe("intermediate A");
        expect((await store.latestIssued("c0"))!.chainPem).toBe("intermediate B");
        await store.saveInstalled({ certId: "c1", target: "files", serial: "0a", installedAt: T0 });
        expect((await store.lastInstalled("c1", "files"))!.chainPem).toBe("intermediate A");
      });
    });

    describe("alerts", () => {
      test("a repeat limit is kept per (sink, key), replaced, survives a reopen, and clears", async () => {
        expect(await store.alertLimit("mail", "www")).toBeNull();
        await store.putAlertLimit({ sink: "mail", key: "www", lastSentAt: at(0), held: 0, heldSince: null, lastError: null });
        await store.putAlertLimit({ sink: "mail", key: "www", lastSentAt: at(0), held: 3, heldSince: at(60), lastError: "acme: down" });
        await store.putAlertLimit({ sink: "hook", key: "www", lastSentAt: at(5), held: 0, heldSince: null, lastError: null });
        store = await subject.reopen();
        expect(await store.alertLimit("mail", "www")).toEqual({ sink: "mail", key: "www", lastSentAt: at(0), held: 3, heldSince: at(60), lastError: "acme: down" });
        await store.clearAlertLimit("mail", "www");
        await store.clearAlertLimit("mail", "www");
        expect(await store.alertLimit("mail", "www")).toBeNull();
        expect((await store.alertLimit("hook", "www"))?.lastSentAt).toEqual(at(5));
      });

      test("deliveries list newest first, a tie by insertion, up to the limit", async () => {
        await store.recordDelivery(delivery("a", 0));
        await store.recordDelivery(delivery("b", 10, { outcome: "failed", error: "mail: 550 no such user", attempts: 3 }));
        await store.recordDelivery(delivery("c", 10, { sink: "hook", certId: null, event: "alert.test", outcome: "not_sent", attempts: 0 }));
        expect((await store.listDeliveries(10)).map((d) => d.alertId)).toEqual(["c", "b", "a"]);
        expect(await store.listDeliveries(2)).toEqual([
          delivery("c", 10, { sink: "hook", certId: null, event: "alert.test", outcome: "not_sent", attempts: 0 }),
          delivery("b", 10, { outcome: "failed", error: "mail: 550 no such user", attempts: 3 }),
        ]);
      });
    });

    test("health: connected, nothing buffered or dropped", () => {
      expect(store.health()).toMatchObject({ connected: true, bufferedWrites: 0, droppedWrites: 0 });
    });
  });
}
