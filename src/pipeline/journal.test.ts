/** @module The challenge journal's sweep: a problem it cannot fix is said once (again when it changes), and a stop cuts the sweep short. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { supportsKind, type ChallengeKind, type DcvBackend, type DcvChallenge, type RemoveFailure } from "../backends/types.ts";
import { RotaError } from "../errors.ts";
import { ChallengeJournal, configuredDcvs, retryDelayMs, type SweepOptions } from "./journal.ts";

let dir: string;
let logged: string[];
const log = createConsola({ level: 3, reporters: [{ log: (o) => void logged.push(`${o.type}: ${o.args.join(" ")}`) }] });
const at = (now: Date = new Date()): SweepOptions => ({ now, retryBaseMs: 5_000 });
const byName = (m: Map<string, DcvBackend>) => configuredDcvs(m);
const challenge = (token: string): DcvChallenge => ({ kind: "http-01", domain: "www.example.com", token, keyAuthorization: `${token}.thumb` });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-journal-"));
  logged = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A DCV backend whose remove waits until its signal fires, then rejects as aborted. */
class HangingDcv implements DcvBackend {
  readonly name = "web";
  entered = 0;
  /** Settles when a remove has begun. */
  readonly entering = Promise.withResolvers<void>();
  supportedKinds(): ChallengeKind[] {
    return ["http-01"];
  }
  supports(ch: DcvChallenge): boolean {
    return supportsKind(this, ch);
  }
  async publish(): Promise<void> {}
  remove(_ch: DcvChallenge, signal: AbortSignal): Promise<void> {
    this.entered++;
    this.entering.resolve();
    return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new RotaError("aborted", "web: cancelled")), { once: true }));
  }
}

test("an entry whose dcv is no longer configured is reported once, not at every sweep", async () => {
  const journal = new ChallengeJournal(dir);
  journal.record({ renewalId: "r1", certId: "www", dcv: "gone", challenges: [challenge("t1")] });
  for (let i = 0; i < 3; i++) await journal.recover(byName(new Map()), log, new AbortController().signal, at());
  journal.record({ renewalId: "r2", certId: "api", dcv: "gone", challenges: [challenge("t2")] });
  await journal.recover(byName(new Map()), log, new AbortController().signal, at());
  expect(logged).toEqual([
    'warn: journal: renewal r1 left challenges for dcv "gone", which is no longer configured; remove them by hand',
    'warn: journal: renewal r2 left challenges for dcv "gone", which is no longer configured; remove them by hand',
  ]);
  expect(journal.entries()).toHaveLength(2);
});

test("an entry of a kind its dcv no longer solves is kept, with a warning once", async () => {
  const journal = new ChallengeJournal(dir);
  const cname: DcvChallenge = { kind: "dns-cname", recordName: "_7f3a.shop.example.com", target: "1a2b.c3d4.sectigo.com", ttl: 60 };
  journal.record({ renewalId: "r1", certId: "shop", dcv: "web", challenges: [cname] });
  const web = new HangingDcv();
  for (let i = 0; i < 2; i++) expect(await journal.recover(byName(new Map([["web", web]])), log, new AbortController().signal, at())).toBe(0);
  expect(web.entered).toBe(0);
  expect(logged).toEqual(['warn: journal: renewal r1 left dns-cname at _7f3a.shop.example.com → 1a2b.c3d4.sectigo.com, which dcv "web" no longer solves; kept, remove them by hand']);
  expect(journal.entries()).toHaveLength(1);
});

test("an abort ends the sweep at once: nothing more is tried, nothing is forgotten, no error is logged", async () => {
  const journal = new ChallengeJournal(dir);
  journal.record({ renewalId: "r1", certId: "www", dcv: "web", challenges: [challenge("t1")] });
  journal.record({ renewalId: "r2", certId: "api", dcv: "web", challenges: [challenge("t2")] });
  const dcv = new HangingDcv();
  const stop = new AbortController();
  const sweep = journal.recover(byName(new Map([["web", dcv]])), log, stop.signal, at());
  await dcv.entering.promise;
  stop.abort(new Error("stopping"));
  expect(await sweep).toBe(0);
  expect(dcv.entered).toBe(1);
  expect(journal.entries()).toHaveLength(2);
  expect(logged).toEqual([]);
});

/** A DCV backend whose remove fails with `error` until it is cleared. */
class FailingDcv implements DcvBackend {
  readonly name = "web";
  error: string | null = "web: DNS API said 503";
  tries = 0;
  supportedKinds(): ChallengeKind[] {
    return ["http-01"];
  }
  supports(ch: DcvChallenge): boolean {
    return supportsKind(this, ch);
  }
  async publish(): Promise<void> {}
  async remove(): Promise<void> {
    this.tries++;
    if (this.error) throw new RotaError("dcv_failed", this.error);
  }
}

test("a removal that keeps failing the same way is logged once, again when the reason changes, and its success is said", async () => {
  const journal = new ChallengeJournal(dir);
  journal.record({ renewalId: "r1", certId: "www", dcv: "web", challenges: [challenge("t1")] });
  const dcv = new FailingDcv();
  let now = Date.parse("2026-01-01T00:00:00Z");
  // Each sweep comes once the entry is due again, whatever its wait has grown to.
  const sweep = () => journal.recover(byName(new Map([["web", dcv]])), log, new AbortController().signal, at(new Date((now += 7 * 3600_000))));
  for (let i = 0; i < 3; i++) await sweep();
  dcv.error = "web: DNS API said 401";
  await sweep();
  dcv.error = null;
  expect(await sweep()).toBe(1);
  expect(logged).toEqual([
    "error: journal: cannot remove challenges of renewal r1 (tried again later, waiting twice as long after each failure, up to 6 h): web: DNS API said 503",
    "error: journal: cannot remove challenges of renewal r1 (tried again later, waiting twice as long after each failure, up to 6 h): web: DNS API said 401",
    "info: journal: removed the challenges of renewal r1 after earlier failures",
  ]);
  expect(journal.entries()).toHaveLength(0);
});

test("the wait after each failed removal doubles from the check interval up to 6 h", () => {
  expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 5_000))).toEqual([5_000, 10_000, 20_000, 40_000, 80_000]);
  expect(retryDelayMs(13, 5_000)).toBe(5_000 * 2 ** 12);
  expect(retryDelayMs(14, 5_000)).toBe(6 * 3600_000);
  expect(retryDelayMs(1_000, 3600_000)).toBe(6 * 3600_000);
});

test("a failing removal is tried at 0, 5, 15, 35, 75, 155 and 315 s of ten minutes of 5-s sweeps; its wait survives a restart", async () => {
  const journal = new ChallengeJournal(dir);
  journal.record({ renewalId: "r1", certId: "www", dcv: "web", challenges: [challenge("t1")] });
  const dcv = new FailingDcv();
  const dcvs = byName(new Map([["web", dcv]]));
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  const tried: number[] = [];
  for (let s = 0; s <= 600; s += 5) {
    const before = dcv.tries;
    await journal.recover(dcvs, log, new AbortController().signal, at(new Date(t0 + s * 1000)));
    if (dcv.tries > before) tried.push(s);
  }
  expect(tried).toEqual([0, 5, 15, 35, 75, 155, 315]);
  expect(dcv.tries).toBe(7);
  expect(journal.entries()).toEqual([expect.objectContaining({ renewalId: "r1", failures: 7, retryAt: new Date(t0 + 635_000).toISOString() })]);
  // A restart reads the wait from the entry: nothing is asked before it ends.
  const restarted = new ChallengeJournal(dir);
  expect(await restarted.recover(dcvs, log, new AbortController().signal, at(new Date(t0 + 630_000)))).toBe(0);
  expect(dcv.tries).toBe(7);
  dcv.error = null;
  expect(await restarted.recover(dcvs, log, new AbortController().signal, at(new Date(t0 + 635_000)))).toBe(1);
  expect(restarted.entries()).toEqual([]);
});

/** A DCV that removes many at once, counting its calls. */
class BatchDcv extends FailingDcv {
  batches: string[][] = [];
  async removeMany(chs: DcvChallenge[]): Promise<RemoveFailure[]> {
    this.batches.push(chs.map((ch) => (ch.kind === "http-01" ? ch.token : "?")));
    const error = this.error;
    return error ? chs.map((challenge) => ({ challenge, error: new RotaError("dcv_failed", error) })) : [];
  }
}

test("the entries of one backend that removes many at once go in one call; they fail and wait together", async () => {
  const journal = new ChallengeJournal(dir);
  for (const n of [1, 2, 3]) journal.record({ renewalId: `r${n}`, certId: "www", dcv: "web", challenges: [challenge(`t${n}`)] });
  const dcv = new BatchDcv();
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  const sweep = (s: number) => journal.recover(byName(new Map([["web", dcv]])), log, new AbortController().signal, at(new Date(t0 + s * 1000)));
  expect(await sweep(0)).toBe(0);
  expect(await sweep(4)).toBe(0);
  expect(dcv.batches).toHaveLength(1);
  expect(dcv.batches[0]!.sort()).toEqual(["t1", "t2", "t3"]);
  dcv.error = null;
  expect(await sweep(5)).toBe(3);
  expect(dcv.batches).toHaveLength(2);
  expect(journal.entries()).toEqual([]);
});
