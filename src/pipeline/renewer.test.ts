/**
 * @module runRenewal end to end in-process: a local CA behind a fake that hands out
 * challenges, a fake DCV, the real filesystem install, journal and SQLite audit; the
 * steps and statuses the audit records for success and each kind of failure.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalCa } from "../backends/ca/local/local-ca.ts";
import { runDcvContract } from "../backends/dcv/contract.ts";
import { markUnwritten } from "../backends/dcv/unwritten.ts";
import { createFilesystemInstall } from "../backends/install/filesystem/filesystem.ts";
import { supportsKind, type CABackend, type ChallengeKind, type DcvBackend, type DcvChallenge, type InstallBackend, type PropagatingDcv, type PropagationPolicy } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import { clockReading, FakeClock } from "../testing/fake-clock.ts";
import type { Fence } from "../cluster/types.ts";
import type { CertConfig } from "../config/schema.ts";
import { createCsr } from "../crypto/csr.ts";
import { generateKeyPem } from "../crypto/keys.ts";
import { RotaError, retryAfterOf, throwIfAborted } from "../errors.ts";
import { EventBus, type StepName, type StepStatus } from "../events.ts";
import { subscribeAudit } from "../store/audit-subscriber.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import type { VisibilityCheck } from "../dns/visibility.ts";
import { ChallengeJournal, type JournalEntry } from "./journal.ts";
import type { DnsProbe } from "./propagate.ts";
import { runRenewal, type RenewerDeps, type RunOutcome, type RunRequest } from "./renewer.ts";
import type { CertRuntime } from "./runtime.ts";

const DOMAIN = "www.example.com";
const HTTP: DcvChallenge = { kind: "http-01", domain: DOMAIN, token: "tok_1", keyAuthorization: "tok_1.thumb" };

/** Solves challenges in memory; `published` is what a CA would see now. */
class FakeDcv implements DcvBackend {
  readonly name = "fake-dcv";
  readonly published = new Map<string, DcvChallenge>();
  readonly calls: string[] = [];

  constructor(private readonly opts: { kinds?: ChallengeKind[]; removeFails?: boolean; onPublish?: () => void; publishFails?: (ch: DcvChallenge) => Error | undefined } = {}) {}

  supportedKinds(): ChallengeKind[] {
    return this.opts.kinds ?? ["http-01", "dns-01"];
  }
  supports(ch: DcvChallenge): boolean {
    return supportsKind(this, ch);
  }
  async publish(ch: DcvChallenge, signal: AbortSignal): Promise<void> {
    throwIfAborted(signal, this.name);
    this.opts.onPublish?.();
    this.calls.push(`publish ${keyOf(ch)}`);
    const failure = this.opts.publishFails?.(ch);
    if (failure) throw failure;
    this.published.set(keyOf(ch), ch);
  }
  async remove(ch: DcvChallenge): Promise<void> {
    this.calls.push(`remove ${keyOf(ch)}`);
    if (this.opts.removeFails) throw new RotaError("remove_failed", "fake-dcv: the DNS API is down");
    this.published.delete(keyOf(ch));
  }
}

/** One published response: a token at a domain, or one value at a TXT name (an apex and its wildcard share the name). */
function keyOf(ch: DcvChallenge): string {
  switch (ch.kind) {
    case "http-01":
      return `${ch.domain}/${ch.token}`;
    case "dns-01":
      return `${ch.recordName} ${ch.recordValue}`;
    case "dns-cname":
      return `${ch.recordName} CNAME ${ch.target}`;
  }
}

runDcvContract("renewer's fake", () => {
  const dcv = new FakeDcv();
  return {
    backend: dcv,
    // What a CA reads: the file at one token for http-01, every TXT value at the name for dns-01.
    lookup: async (ch) =>
      [...dcv.published.values()]
        .filter((p) => (p.kind === "http-01" ? keyOf(p) === keyOf(ch) : ch.kind === "dns-01" && p.recordName === ch.recordName))
        .map((p) => (p.kind === "http-01" ? p.keyAuthorization : p.kind === "dns-01" ? p.recordValue : p.target)),
  };
});

interface FakeCaOptions {
  challenges?: DcvChallenge[];
  /** awaitIssuance throws this. */
  failWith?: Error;
  /** Signs a CSR for another key than the one submitted: a mixed-up response. */
  wrongKey?: boolean;
  onAwait?: () => void;
}

/** The local CA's signing, with the challenges and failures a real CA would add. */
function fakeCa(stateDir: string, clock: Clock, opts: FakeCaOptions = {}): CABackend & { awaited: number } {
  const inner = createLocalCa("inner", { validityDays: 90, commonName: undefined }, { stateDir, clock });
  return {
    name: "fake-ca",
    awaited: 0,
    async submit(req, signal) {
      const csrPem = opts.wrongKey ? await createCsr(req.domains, generateKeyPem("ecdsa-p256")) : req.csrPem;
      const { order } = await inner.submit({ ...req, csrPem }, signal);
      return { order, challenges: opts.challenges ?? [] };
    },
    async awaitIssuance(order, signal) {
      this.awaited++;
      opts.onAwait?.();
      if (opts.failWith) throw opts.failWith;
      return inner.awaitIssuance(order, signal);
    },
  };
}

let dir: string;
let store: SqliteAuditStore;
let bus: EventBus;
let journal: ChallengeJournal;
let deps: RenewerDeps;
const busErrors: unknown[] = [];
const now = new Date();
const clock: Clock = clockReading(() => now);
let seq = 0;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-renewer-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
  bus = new EventBus((err) => busErrors.push(err));
  subscribeAudit(bus, store);
  journal = new ChallengeJournal(dir);
  deps = { store, bus, clock, journal };
});
afterEach(async () => {
  await bus.drain();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  expect(busErrors).toEqual([]);
});

/** The cert `www`; every run in a test shares its key file and install folder. */
function runtime(ca: CABackend, dcv: DcvBackend | undefined): CertRuntime {
  const config: CertConfig = {
    id: "www",
    domains: [DOMAIN],
    ca: ca.name,
    dcv: dcv?.name,
    install: ["files"],
    keyPath: join(dir, "keys", "www.key"),
    keyType: "ecdsa-p256",
    keyRotation: "never",
    renewThresholdDays: undefined,
  };
  return {
    config,
    ca,
    dcv,
    installs: [createFilesystemInstall("files", { dir: join(dir, "installed"), uid: undefined, gid: undefined })],
  };
}

async function run(
  cert: CertRuntime,
  opts: { installOnly?: string[]; newKey?: boolean; cluster?: RunRequest["cluster"] } = {},
): Promise<{ id: string; outcome: RunOutcome; steps: Array<[StepName, StepStatus]> }> {
  const { installOnly, newKey, cluster } = opts;
  const id = `r${++seq}`;
  // The runner opens the row before the pipeline runs; here the test does.
  bus.emit({ type: "renewal.started", renewalId: id, certId: cert.config.id, trigger: "manual", installOnly: installOnly !== undefined, reason: null, at: now });
  const outcome = await runRenewal(cert, { renewalId: id, trigger: "manual", signal: new AbortController().signal, installOnly, newKey, ...(cluster ? { cluster } : {}) }, deps);
  await bus.drain();
  const renewal = await store.getRenewal(id);
  return { id, outcome, steps: renewal!.events.map((e) => [e.step, e.status]) };
}

const installedFiles = () => {
  const d = join(dir, "installed", "www");
  return existsSync(d) ? Object.fromEntries(readdirSync(d).map((n) => [n, readFileSync(join(d, n), "utf8")])) : {};
};

describe("runRenewal", () => {
  test("success with a challenge: every step ok, journaled while published, forgotten after", async () => {
    let journaled: JournalEntry[] = [];
    let seenByCa: string[] = [];
    const dcv = new FakeDcv();
    const ca = fakeCa(dir, clock, {
      challenges: [HTTP],
      onAwait: () => {
        journaled = journal.entries();
        seenByCa = [...dcv.published.keys()];
      },
    });
    const { id, outcome, steps } = await run(runtime(ca, dcv));

    expect(outcome.ok).toBe(true);
    expect(steps).toEqual([
      ["key", "ok"],
      ["csr", "ok"],
      ["submit", "ok"],
      ["preflight", "ok"],
      ["publish", "ok"],
      ["propagate", "skipped"],
      ["await_issuance", "ok"],
      ["remove", "ok"],
      ["verify", "ok"],
      ["persist", "ok"],
      ["install", "ok"],
    ]);
    expect(journaled).toEqual([{ renewalId: id, certId: "www", dcv: "fake-dcv", challenges: [HTTP] }]);
    expect(seenByCa).toEqual([`${DOMAIN}/tok_1`]);
    expect(dcv.calls).toEqual([`publish ${DOMAIN}/tok_1`, `remove ${DOMAIN}/tok_1`]);
    expect(journal.entries()).toEqual([]);

    const issued = (outcome as Extract<RunOutcome, { ok: true }>).issued;
    expect(await store.latestIssued("www")).toEqual(issued);
    expect(installedFiles()["cert.pem"]).toBe(issued.leafPem);
  });

  test("install-only puts the stored certificate back without asking the CA", async () => {
    const ca = fakeCa(dir, clock);
    const cert = runtime(ca, new FakeDcv());
    const first = await run(cert);
    rmSync(join(dir, "installed"), { recursive: true });
    const { outcome, steps } = await run(cert, { installOnly: ["files"] });
    expect(steps).toEqual([
      ["key", "ok"],
      ["verify", "ok"],
      ["install", "ok"],
    ]);
    expect(ca.awaited).toBe(1);
    expect((outcome as Extract<RunOutcome, { ok: true }>).issued.serial).toBe((first.outcome as Extract<RunOutcome, { ok: true }>).issued.serial);
    expect(outcome).not.toHaveProperty("ordered");
  });

  test("install-only with the key lost: the stored certificate is unusable, a new one is ordered", async () => {
    const ca = fakeCa(dir, clock);
    const cert = runtime(ca, new FakeDcv());
    await run(cert);
    rmSync(join(dir, "keys", "www.key"));
    const { outcome, steps } = await run(cert, { installOnly: ["files"] });
    expect(outcome).toMatchObject({ ok: true, ordered: true });
    expect(steps.slice(0, 3)).toEqual([
      ["key", "ok"],
      ["verify", "skipped"],
      ["csr", "ok"],
    ]);
    expect(steps.at(-1)).toEqual(["install", "ok"]);
    expect(ca.awaited).toBe(2);
    const renewal = (await store.listRenewals({ certId: "www", limit: 1 }))[0]!;
    expect(renewal.events[0]!.message).toStartWith("generated ecdsa-p256 key");
    expect(renewal.events[1]!.message).toContain("ordering a new one");
  });

  test("a CA that asks for nothing: preflight, publish and remove are skipped", async () => {
    const { outcome, steps } = await run(runtime(fakeCa(dir, clock), new FakeDcv()));
    expect(outcome.ok).toBe(true);
    expect(steps.filter(([, status]) => status !== "ok")).toEqual([
      ["preflight", "skipped"],
      ["publish", "skipped"],
      ["propagate", "skipped"],
      ["remove", "skipped"],
    ]);
  });

  test("preflight failure: nothing published, nothing asked of the CA, a permanent failure", async () => {
    const dcv = new FakeDcv({ kinds: ["dns-01"] });
    const ca = fakeCa(dir, clock, { challenges: [HTTP] });
    const { outcome, steps } = await run(runtime(ca, dcv));

    expect(outcome).toMatchObject({ ok: false, interrupted: false, error: { code: "unsupported_challenge", noRetry: true } });
    expect((outcome as { error: Error }).error.message).toBe(`pipeline: dcv fake-dcv cannot solve http-01 for ${DOMAIN}`);
    expect(steps).toEqual([
      ["key", "ok"],
      ["csr", "ok"],
      ["submit", "ok"],
      ["preflight", "failed"],
      ["remove", "skipped"],
    ]);
    expect(dcv.calls).toEqual([]);
    expect(ca.awaited).toBe(0);
    expect(journal.entries()).toEqual([]);
  });


  test("a CA that needs a challenge but the cert has no DCV fails at preflight", async () => {
    const { outcome, steps } = await run(runtime(fakeCa(dir, clock, { challenges: [HTTP] }), undefined));
    expect(outcome).toMatchObject({ ok: false, error: { code: "no_dcv", noRetry: true } });
    expect(steps.slice(-2)).toEqual([
      ["preflight", "failed"],
      ["remove", "skipped"],
    ]);
  });

  test("await_issuance failure: remove still runs, the journal entry is gone, nothing after", async () => {
    const dcv = new FakeDcv();
    const failure = new RotaError("validation_failed", "fake-ca: authorization invalid: connection refused");
    const { outcome, steps } = await run(runtime(fakeCa(dir, clock, { challenges: [HTTP], failWith: failure }), dcv));

    expect(outcome).toEqual({ ok: false, error: failure, interrupted: false });
    expect(steps).toEqual([
      ["key", "ok"],
      ["csr", "ok"],
      ["submit", "ok"],
      ["preflight", "ok"],
      ["publish", "ok"],
      ["propagate", "skipped"],
      ["await_issuance", "failed"],
      ["remove", "ok"],
    ]);
    expect(dcv.published.size).toBe(0);
    expect(journal.entries()).toEqual([]);
    expect(await store.latestIssued("www")).toBeNull();
    expect(installedFiles()).toEqual({});
  });

  test("a DCV whose remove throws: issuance decides the outcome, the journal keeps the entry", async () => {
    const dcv = new FakeDcv({ removeFails: true });
    const { id, outcome, steps } = await run(runtime(fakeCa(dir, clock, { challenges: [HTTP] }), dcv));

    expect(outcome.ok).toBe(true);
    expect(steps.slice(6)).toEqual([
      ["await_issuance", "ok"],
      ["remove", "failed"],
      ["verify", "ok"],
      ["persist", "ok"],
      ["install", "ok"],
    ]);
    const removeEvent = (await store.getRenewal(id))!.events.find((e) => e.step === "remove")!;
    expect(removeEvent.message).toBe("fake-dcv: the DNS API is down");
    expect(journal.entries()).toEqual([{ renewalId: id, certId: "www", dcv: "fake-dcv", challenges: [HTTP] }]);
  });

  test("a publish that failed before any write: nothing journaled, nothing to remove; one that may have written stays journaled", async () => {
    const HTTP2: DcvChallenge = { ...HTTP, token: "tok_2", keyAuthorization: "tok_2.thumb" };
    const refused = () => markUnwritten(new RotaError("namecheap_ip", "fake-dcv: this machine's IP is not on the API allow-list"));
    const alone = new FakeDcv({ publishFails: refused });
    const first = await run({ ...runtime(fakeCa(dir, clock, { challenges: [HTTP] }), alone), dcvSection: { name: "fake-dcv", type: "fake", options: {} } });
    expect(first.outcome.ok).toBe(false);
    expect(first.steps.slice(4)).toEqual([
      ["publish", "failed"],
      ["remove", "skipped"],
    ]);
    expect(alone.calls).toEqual([`publish ${DOMAIN}/tok_1`]);
    expect(journal.entries()).toEqual([]);

    // The first challenge is out, the second fails before writing: only the first is journaled and removed.
    const second = new FakeDcv({ removeFails: true, publishFails: (ch) => (ch.kind === "http-01" && ch.token === "tok_2" ? refused() : undefined) });
    const { id } = await run(runtime(fakeCa(dir, clock, { challenges: [HTTP, HTTP2] }), second));
    expect(second.calls).toEqual([`publish ${DOMAIN}/tok_1`, `publish ${DOMAIN}/tok_2`, `remove ${DOMAIN}/tok_1`]);
    expect(journal.entries()).toEqual([{ renewalId: id, certId: "www", dcv: "fake-dcv", challenges: [HTTP] }]);
    journal.forget(id);

    // A write sent and then lost (no reply) may have landed: the entry stays.
    const lost = new FakeDcv({ removeFails: true, publishFails: () => new RotaError("namecheap_unreachable", "fake-dcv: setHosts: no reply within 60 s") });
    const third = await run(runtime(fakeCa(dir, clock, { challenges: [HTTP] }), lost));
    expect(journal.entries()).toEqual([{ renewalId: third.id, certId: "www", dcv: "fake-dcv", challenges: [HTTP] }]);
  });

  test("the journal entry holds the [[dcv]] section the publish used", async () => {
    let journaled: JournalEntry[] = [];
    const section = { name: "fake-dcv", type: "webroot", options: { path: "/srv/www" } };
    const ca = fakeCa(dir, clock, { challenges: [HTTP], onAwait: () => (journaled = journal.entries()) });
    const { id } = await run({ ...runtime(ca, new FakeDcv()), dcvSection: section });
    expect(journaled).toEqual([{ renewalId: id, certId: "www", dcv: "fake-dcv", section, challenges: [HTTP] }]);
  });

  test("a certificate for another key: verify refuses, nothing stored, the installed files unchanged", async () => {
    const first = await run(runtime(fakeCa(dir, clock), undefined));
    expect(first.outcome.ok).toBe(true);
    const before = installedFiles();
    expect(Object.keys(before).sort()).toEqual(["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]);

    const { outcome, steps } = await run(runtime(fakeCa(dir, clock, { wrongKey: true }), undefined));
    expect(outcome).toMatchObject({ ok: false, error: { code: "verify_failed", message: "verify: certificate does not match the private key" } });
    expect(steps.slice(-2)).toEqual([
      ["remove", "skipped"],
      ["verify", "failed"],
    ]);
    expect(installedFiles()).toEqual(before);
    expect((await store.latestIssued("www"))!.serial).toBe((first.outcome as Extract<RunOutcome, { ok: true }>).issued.serial);
  });

  test("an install failure fails the run after the certificate is stored", async () => {
    const cert = runtime(fakeCa(dir, clock), undefined);
    await Bun.write(join(dir, "installed", "www"), "a file where the folder should be");
    const { outcome, steps } = await run(cert);
    expect(outcome).toMatchObject({ ok: false, error: { code: "install_failed" } });
    expect(steps.slice(-2)).toEqual([
      ["persist", "ok"],
      ["install", "failed"],
    ]);
    expect(await store.latestIssued("www")).not.toBeNull();
  });

  test("each successful install is recorded per target, install-only runs included", async () => {
    const cert = runtime(fakeCa(dir, clock), undefined);
    const first = await run(cert);
    const serial = (first.outcome as Extract<RunOutcome, { ok: true }>).issued.serial;
    expect((await store.lastInstalled("www", "files"))!.serial).toBe(serial);

    const nas = { name: "nas", installs: 0, async install() { this.installs++; } };
    await run({ ...cert, installs: [...cert.installs, nas] }, { installOnly: ["nas"] });
    expect(nas.installs).toBe(1);
    expect((await store.lastInstalled("www", "nas"))!.serial).toBe(serial);
  });

  test("install failures: the others still install, every cause kept, the longest Retry-After wins", async () => {
    const cert = runtime(fakeCa(dir, clock), undefined);
    const limited = (name: string, seconds: number): InstallBackend => ({
      name,
      async install() {
        throw new RotaError("install_failed", `${name}: API said 429`, { retryAfterSeconds: seconds, cause: new Error("Too Many Requests") });
      },
    });
    const wrapped = new RotaError("install_failed", "dsm: upload refused", { cause: new RotaError("rate_limited", "dsm: slow down", { retryAfterSeconds: 600 }) });
    const dsm: InstallBackend = { name: "dsm", async install() { throw wrapped; } };
    const { outcome, steps } = await run({ ...cert, installs: [limited("nas", 120), ...cert.installs, dsm, limited("k8s", 30)] });

    expect(steps.at(-1)).toEqual(["install", "failed"]);
    const error = (outcome as Extract<RunOutcome, { ok: false }>).error as RotaError;
    expect(error.message).toBe("nas: API said 429: Too Many Requests; dsm: upload refused: dsm: slow down; k8s: API said 429: Too Many Requests");
    expect(error.retryAfterSeconds).toBe(600);
    expect(retryAfterOf(error)).toBe(600);
    expect((error.cause as AggregateError).errors).toEqual([expect.objectContaining({ message: "nas: API said 429" }), wrapped, expect.objectContaining({ message: "k8s: API said 429" })]);
    expect(await store.lastInstalled("www", "files")).not.toBeNull();
    expect(await store.lastInstalled("www", "nas")).toBeNull();
  });

  test("one failing target: it is the cause, its Retry-After carried", async () => {
    const cert = runtime(fakeCa(dir, clock), undefined);
    const cause = new RotaError("install_failed", "nas: API said 429", { retryAfterSeconds: 90 });
    const { outcome } = await run({ ...cert, installs: [{ name: "nas", async install() { throw cause; } }] });
    expect(outcome).toMatchObject({ ok: false, error: { code: "install_failed", message: "nas: API said 429", retryAfterSeconds: 90, cause } });
  });

  describe("a new key", () => {
    const keyPath = () => join(dir, "keys", "www.key");
    const messages = async (id: string) => Object.fromEntries((await store.getRenewal(id))!.events.map((e) => [e.step, e.message]));

    test("--new-key: the key file is replaced once the certificate is verified, the old one kept as .old", async () => {
      const cert = runtime(fakeCa(dir, clock), undefined);
      await run(cert);
      const old = readFileSync(keyPath(), "utf8");
      const { id, outcome } = await run(cert, { newKey: true });
      expect(outcome.ok).toBe(true);
      const fresh = readFileSync(keyPath(), "utf8");
      expect(fresh).not.toBe(old);
      expect(readFileSync(`${keyPath()}.old`, "utf8")).toBe(old);
      expect(installedFiles()["privkey.pem"]).toBe(fresh);
      const m = await messages(id);
      expect(m.key).toBe(`generated a new ecdsa-p256 key in memory; it replaces ${keyPath()} (old kept as .old) once the certificate is issued and verified`);
      expect(m.persist).toBe(`new key written to ${keyPath()} (old kept as .old); certificate and chain stored (the key is not)`);
    });

    test("a failed order leaves the old key in place and writes no .old", async () => {
      const cert = runtime(fakeCa(dir, clock), undefined);
      await run(cert);
      const old = readFileSync(keyPath(), "utf8");
      const failing = runtime(fakeCa(dir, clock, { failWith: new RotaError("boom", "fake-ca: refused") }), undefined);
      const { outcome } = await run(failing, { newKey: true });
      expect(outcome.ok).toBe(false);
      expect(readFileSync(keyPath(), "utf8")).toBe(old);
      expect(existsSync(`${keyPath()}.old`)).toBe(false);
      expect(installedFiles()["privkey.pem"]).toBe(old);
    });

    test('key_rotation = "every_renewal": every order a new key, a re-install the current one', async () => {
      const cert = runtime(fakeCa(dir, clock), undefined);
      cert.config.keyRotation = "every_renewal";
      await run(cert);
      const first = readFileSync(keyPath(), "utf8");
      expect((await messages(`r${seq}`)).key).toBe(`generated a new ecdsa-p256 key in memory; it is written to ${keyPath()} once the certificate is issued and verified`);
      expect((await messages(`r${seq}`)).persist).toBe(`new key written to ${keyPath()}; certificate and chain stored (the key is not)`);
      await run(cert);
      const second = readFileSync(keyPath(), "utf8");
      expect(second).not.toBe(first);
      expect(readFileSync(`${keyPath()}.old`, "utf8")).toBe(first);
      rmSync(join(dir, "installed"), { recursive: true });
      const { steps } = await run(cert, { installOnly: ["files"] });
      expect(steps.map(([s]) => s)).toEqual(["key", "verify", "install"]);
      expect(readFileSync(keyPath(), "utf8")).toBe(second);
      expect(installedFiles()["privkey.pem"]).toBe(second);
    });
  });
});

describe("runRenewal in cluster mode", () => {
  const FENCE: Fence = { nodeId: "nas-1", instance: "i-1", term: 7 };
  const keyPath = () => join(dir, "keys", "www.key");
  /** The CA's submits, counted: a follower must never reach one. */
  const counting = (ca: CABackend) => {
    const counted = { ...ca, submits: 0 };
    counted.submit = (req, signal) => {
      counted.submits++;
      return ca.submit(req, signal);
    };
    return counted;
  };
  /** The first run as a leader would: the key in place, a certificate stored and installed. */
  async function issuedOnce(cert: CertRuntime): Promise<string> {
    const first = await run(cert);
    expect(first.outcome.ok).toBe(true);
    return (first.outcome as Extract<RunOutcome, { ok: true }>).issued.serial;
  }

  test("an order on the leader: the key only loaded, the issued write carries the fence", async () => {
    const cert = runtime(fakeCa(dir, clock), undefined);
    await issuedOnce(cert);
    const fences: Array<Fence | undefined> = [];
    deps = { ...deps, store: { latestIssued: (id) => store.latestIssued(id), saveInstalled: (r) => store.saveInstalled(r), saveIssued: async (_, f) => void fences.push(f) } };
    const key = readFileSync(keyPath(), "utf8");
    const { id, outcome } = await run(cert, { cluster: { fence: FENCE } });
    expect(outcome.ok).toBe(true);
    expect(fences).toEqual([FENCE]);
    expect(readFileSync(keyPath(), "utf8")).toBe(key);
    expect((await store.getRenewal(id))!.events[0]!.message).toBe(`loaded key at ${keyPath()} (cluster mode: never generated)`);
  });

  test("a fenced persist: nothing stored, nothing installed, the run fails with fenced", async () => {
    const cert = runtime(fakeCa(dir, clock), undefined);
    const serial = await issuedOnce(cert);
    const before = installedFiles();
    const refused = new RotaError("fenced", "cluster: not stored: nas-1 no longer holds the lease at term 7", { noRetry: true });
    deps = { ...deps, store: { latestIssued: (id) => store.latestIssued(id), saveInstalled: (r) => store.saveInstalled(r), saveIssued: async () => Promise.reject(refused) } };
    const { outcome, steps } = await run(cert, { cluster: { fence: FENCE } });
    expect(outcome).toEqual({ ok: false, error: refused, interrupted: false });
    expect(steps.slice(-2)).toEqual([
      ["verify", "ok"],
      ["persist", "failed"],
    ]);
    expect(installedFiles()).toEqual(before);
    expect((await store.latestIssued("www"))!.serial).toBe(serial);
  });

  test("an order without a fence (not the leader) never reaches the CA", async () => {
    const ca = counting(fakeCa(dir, clock));
    const cert = runtime(ca, undefined);
    await issuedOnce(cert);
    const { outcome, steps } = await run(cert, { cluster: { fence: null } });
    expect(outcome).toMatchObject({ ok: false, error: { code: "not_leader" } });
    expect(ca.submits).toBe(1);
    expect(steps.at(-1)).toEqual(["key", "ok"]);
  });

  test("install-only with another key: refused as key_mismatch naming the key path, never ordering, nothing installed", async () => {
    const ca = counting(fakeCa(dir, clock));
    const cert = runtime(ca, undefined);
    const serial = await issuedOnce(cert);
    rmSync(join(dir, "installed"), { recursive: true });
    const other = generateKeyPem("ecdsa-p256");
    await Bun.write(keyPath(), other);
    const { outcome, steps } = await run(cert, { installOnly: ["files"], cluster: { fence: null } });
    expect(outcome).toMatchObject({ ok: false, interrupted: false, error: { code: "key_mismatch", noRetry: true } });
    const message = (outcome as { error: RotaError }).error.message;
    expect(message).toBe(
      `pipeline: www: stored serial ${serial} cannot be installed with the key at ${keyPath()} (verify: certificate does not match the private key); every node needs the leader's key and the same [[cert]] names`,
    );
    expect(message).not.toContain("PRIVATE KEY");
    expect(steps).toEqual([
      ["key", "ok"],
      ["verify", "failed"],
    ]);
    expect(ca.submits).toBe(1);
    expect(installedFiles()).toEqual({});
    expect(readFileSync(keyPath(), "utf8")).toBe(other);
  });

  test("install-only with the key missing: key_missing, no key generated, never ordering", async () => {
    const ca = counting(fakeCa(dir, clock));
    const cert = runtime(ca, undefined);
    await issuedOnce(cert);
    rmSync(keyPath());
    const { outcome, steps } = await run(cert, { installOnly: ["files"], cluster: { fence: null } });
    expect(outcome).toMatchObject({ ok: false, error: { code: "key_missing" } });
    expect(steps).toEqual([["key", "failed"]]);
    expect(existsSync(keyPath())).toBe(false);
    expect(ca.submits).toBe(1);
  });

  test("install-only with nothing stored yet fails without ordering; a new key is refused", async () => {
    const ca = counting(fakeCa(dir, clock));
    const cert = runtime(ca, undefined);
    await Bun.write(keyPath(), generateKeyPem("ecdsa-p256"));
    const none = await run(cert, { installOnly: ["files"], cluster: { fence: null } });
    expect(none.outcome).toMatchObject({ ok: false, error: { code: "no_certificate" } });
    const rotated = await run(cert, { newKey: true, cluster: { fence: FENCE } });
    expect(rotated.outcome).toMatchObject({ ok: false, error: { code: "new_key_refused" } });
    expect(ca.submits).toBe(0);
  });
});

describe("runRenewal with a DNS backend's propagation policy", () => {
  const RECORD = `_acme-challenge.${DOMAIN}`;
  const DNS: DcvChallenge = { kind: "dns-01", recordName: RECORD, recordValue: "v1", ttl: 60 };
  const TARGET = "_acme-challenge.www.delegated.example.net";
  const policy: PropagationPolicy = { check: true, resolvers: [], bootstrapResolver: null, intervalSeconds: 2, timeoutSeconds: 6, followCname: true };

  class PropagatingFake extends FakeDcv implements PropagatingDcv {
    constructor(
      readonly propagation: PropagationPolicy,
      kinds: ChallengeKind[] = ["dns-01"],
    ) {
      super({ kinds });
    }
  }

  /** Lookups from a table: CNAMEs, and whether the published values show (after `lagLooks` looks that miss them). */
  function probe(opts: { cnames?: Record<string, string>; lagLooks: number }): DnsProbe & { looks: number; cnameAsked: string[] } {
    const p = {
      looks: 0,
      cnameAsked: [] as string[],
      cnameTarget: async (name: string) => {
        p.cnameAsked.push(name);
        return opts.cnames?.[name] ?? null;
      },
      visibility: (): VisibilityCheck => async (records) => {
        p.looks++;
        const shows = p.looks > opts.lagLooks;
        return {
          missing: shows ? [] : records.map((r) => `${r.name} at ns2.example.net (192.0.2.2:53)`),
          answers: [`ns2.example.net (192.0.2.2:53) for ${records[0]!.name}: ${shows ? '"v1"' : "no TXT"}`],
        };
      },
    };
    return p;
  }

  async function stepMessage(id: string, step: StepName): Promise<string | undefined> {
    return (await store.getRenewal(id))!.events.find((e) => e.step === step)?.message;
  }

  test("a CNAME'd challenge name: published and journaled at the target, the CA told once it shows", async () => {
    const dcv = new PropagatingFake(policy);
    const dns = probe({ cnames: { [RECORD]: TARGET }, lagLooks: 0 });
    let journaled: JournalEntry[] = [];
    deps = { ...deps, dns };
    const ca = fakeCa(dir, clock, { challenges: [DNS, { ...DNS, recordValue: "v2" }], onAwait: () => (journaled = journal.entries()) });
    const { id, outcome, steps } = await run(runtime(ca, dcv));

    expect(outcome.ok).toBe(true);
    expect(steps.slice(4, 7)).toEqual([
      ["publish", "ok"],
      ["propagate", "ok"],
      ["await_issuance", "ok"],
    ]);
    // The apex and its wildcard share the name: one CNAME lookup.
    expect(dns.cnameAsked).toEqual([RECORD]);
    expect(dcv.calls).toEqual([`publish ${TARGET} v1`, `publish ${TARGET} v2`, `remove ${TARGET} v1`, `remove ${TARGET} v2`]);
    expect(journaled[0]!.challenges).toEqual([
      { ...DNS, recordName: TARGET },
      { ...DNS, recordName: TARGET, recordValue: "v2" },
    ]);
    expect(await stepMessage(id, "publish")).toBe(`published dns-01 at ${TARGET} (delegated by CNAME from ${RECORD}), dns-01 at ${TARGET} (delegated by CNAME from ${RECORD})`);
    expect(await stepMessage(id, "propagate")).toBe(`visible after 1 look(s): ns2.example.net (192.0.2.2:53) for ${TARGET}: "v1"`);
  });

  test("a server that never shows the value: the step fails at the timeout naming it, the CA is never told, remove runs", async () => {
    const dcv = new PropagatingFake(policy);
    const fake = new FakeClock(now);
    deps = { ...deps, clock: fake, dns: probe({ lagLooks: Infinity }) };
    const ca = fakeCa(dir, clock, { challenges: [DNS] });
    let finished = false;
    const running = run(runtime(ca, dcv)).finally(() => (finished = true));
    // Time moves only while the renewal waits between looks.
    while (!finished) await fake.advance(1000);
    const { id, outcome, steps } = await running;

    expect(outcome).toMatchObject({ ok: false, error: { code: "propagation_timeout" } });
    expect(steps.slice(4)).toEqual([
      ["publish", "ok"],
      ["propagate", "failed"],
      ["remove", "ok"],
    ]);
    expect(await stepMessage(id, "propagate")).toStartWith(`propagate: not visible after 6 s: ${RECORD} at ns2.example.net (192.0.2.2:53)`);
    expect(ca.awaited).toBe(0);
    expect(dcv.published.size).toBe(0);
    expect(journal.entries()).toEqual([]);
  });

  test("propagation_check = false and follow_cname = false: no lookups, the step says why it is skipped", async () => {
    const dcv = new PropagatingFake({ ...policy, check: false, followCname: false });
    const dns = probe({ cnames: { [RECORD]: TARGET }, lagLooks: 0 });
    deps = { ...deps, dns };
    const { id, outcome } = await run(runtime(fakeCa(dir, clock, { challenges: [DNS] }), dcv));

    expect(outcome.ok).toBe(true);
    expect(dns.cnameAsked).toEqual([]);
    expect(dns.looks).toBe(0);
    expect(dcv.calls[0]).toBe(`publish ${RECORD} v1`);
    expect(await stepMessage(id, "propagate")).toBe("propagation_check = false for fake-dcv");
  });

  test("a dns-cname challenge: never delegated, published as the CNAME, propagate looks for its target; a DCV without the kind is refused at preflight", async () => {
    const CNAME: DcvChallenge = { kind: "dns-cname", recordName: `_7f3a09.${DOMAIN}`, target: "1a2b.c3d4.u1.sectigo.com", ttl: 60 };
    const dcv = new PropagatingFake(policy, ["dns-01", "dns-cname"]);
    const dns = probe({ cnames: { [CNAME.recordName]: TARGET }, lagLooks: 0 });
    const looked: unknown[] = [];
    const visibility = dns.visibility;
    dns.visibility = (p) => async (records, signal) => {
      looked.push(...records);
      return visibility(p)(records, signal);
    };
    deps = { ...deps, dns };
    const { id, outcome } = await run(runtime(fakeCa(dir, clock, { challenges: [CNAME] }), dcv));
    expect(outcome.ok).toBe(true);
    expect(dns.cnameAsked).toEqual([]);
    expect(dcv.calls).toEqual([`publish ${CNAME.recordName} CNAME ${CNAME.target}`, `remove ${CNAME.recordName} CNAME ${CNAME.target}`]);
    expect(looked).toEqual([{ name: CNAME.recordName, value: CNAME.target, type: "CNAME" }]);
    expect(await stepMessage(id, "publish")).toBe(`published dns-cname at _7f3a09.${DOMAIN} → 1a2b.c3d4.u1.sectigo.com`);

    const refused = await run(runtime(fakeCa(dir, clock, { challenges: [CNAME] }), new PropagatingFake(policy)));
    expect(refused.outcome.ok).toBe(false);
    expect(await stepMessage(refused.id, "preflight")).toBe(`pipeline: dcv fake-dcv cannot solve dns-cname at _7f3a09.${DOMAIN} → 1a2b.c3d4.u1.sectigo.com`);
  });

  test("a DNS backend without a propagation policy: no CNAME lookup, propagate skipped", async () => {
    const dns = probe({ cnames: { [RECORD]: TARGET }, lagLooks: 0 });
    deps = { ...deps, dns };
    const { id } = await run(runtime(fakeCa(dir, clock, { challenges: [DNS] }), new FakeDcv()));
    expect(dns.cnameAsked).toEqual([]);
    expect(await stepMessage(id, "propagate")).toBe("fake-dcv has no propagation check");
  });
});
