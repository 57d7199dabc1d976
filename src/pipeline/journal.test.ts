/** @module The challenge journal's sweep: a problem it cannot fix is said once (again when it changes), and a stop cuts the sweep short. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { supportsKind, type ChallengeKind, type DcvBackend, type DcvChallenge } from "../backends/types.ts";
import { RotaError } from "../errors.ts";
import { ChallengeJournal } from "./journal.ts";

let dir: string;
let logged: string[];
const log = createConsola({ level: 3, reporters: [{ log: (o) => void logged.push(`${o.type}: ${o.args.join(" ")}`) }] });
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
  supportedKinds(): ChallengeKind[] {
    return ["http-01"];
  }
  supports(ch: DcvChallenge): boolean {
    return supportsKind(this, ch);
  }
  async publish(): Promise<void> {}
  remove(_ch: DcvChallenge, signal: AbortSignal): Promise<void> {
    this.entered++;
    return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new RotaError("aborted", "web: cancelled")), { once: true }));
  }
}

test("an entry whose dcv is no longer configured is reported once, not at every sweep", async () => {
  const journal = new ChallengeJournal(dir);
  journal.record({ renewalId: "r1", certId: "www", dcv: "gone", challenges: [challenge("t1")] });
  for (let i = 0; i < 3; i++) await journal.recover(new Map(), log, new AbortController().signal);
  journal.record({ renewalId: "r2", certId: "api", dcv: "gone", challenges: [challenge("t2")] });
  await journal.recover(new Map(), log, new AbortController().signal);
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
  for (let i = 0; i < 2; i++) expect(await journal.recover(new Map([["web", web]]), log, new AbortController().signal)).toBe(0);
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
  const sweep = journal.recover(new Map([["web", dcv]]), log, stop.signal);
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
  supportedKinds(): ChallengeKind[] {
    return ["http-01"];
  }
  supports(ch: DcvChallenge): boolean {
    return supportsKind(this, ch);
  }
  async publish(): Promise<void> {}
  async remove(): Promise<void> {
    if (this.error) throw new RotaError("dcv_failed", this.error);
  }
}

test("a removal that keeps failing the same way is logged once, again when the reason changes, and its success is said", async () => {
  const journal = new ChallengeJournal(dir);
  journal.record({ renewalId: "r1", certId: "www", dcv: "web", challenges: [challenge("t1")] });
  const dcv = new FailingDcv();
  const sweep = () => journal.recover(new Map([["web", dcv]]), log, new AbortController().signal);
  for (let i = 0; i < 3; i++) await sweep();
  dcv.error = "web: DNS API said 401";
  await sweep();
  dcv.error = null;
  expect(await sweep()).toBe(1);
  expect(logged).toEqual([
    "error: journal: cannot remove challenges of renewal r1 (tried again at each check): web: DNS API said 503",
    "error: journal: cannot remove challenges of renewal r1 (tried again at each check): web: DNS API said 401",
    "info: journal: removed the challenges of renewal r1 after earlier failures",
  ]);
  expect(journal.entries()).toHaveLength(0);
});
