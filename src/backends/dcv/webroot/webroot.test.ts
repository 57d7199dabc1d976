/**
 * @module WebrootDcv: the DCV contract, then what only a webroot promises (where the file
 * goes, its mode, which tokens it refuses), and a webroot on a mount that stops answering
 * (FUSE, so as root, as CI runs).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DcvBackend, DcvChallenge } from "../../types.ts";
import { runDcvContract, sampleChallenge } from "../contract.ts";
import { startHangFs, type HangFs } from "../../../../test/harness/hangfs.ts";
import { waitFor } from "../../../../test/harness/proc.ts";
import { createWebrootDcv } from "./webroot.ts";

const challengeDir = (root: string) => join(root, ".well-known", "acme-challenge");

runDcvContract("webroot", () => {
  const root = mkdtempSync(join(tmpdir(), "rota-webroot-"));
  return {
    backend: createWebrootDcv("web", { path: root }),
    async lookup(ch) {
      if (ch.kind !== "http-01") return [];
      const file = join(challengeDir(root), ch.token);
      return existsSync(file) ? [readFileSync(file, "utf8")] : [];
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
});

describe("webroot", () => {
  let root: string;
  let dcv: DcvBackend;
  const signal = new AbortController().signal;
  const http = (token: string): DcvChallenge => ({ kind: "http-01", domain: "www.example.com", token, keyAuthorization: `${token}.thumb` });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "rota-webroot-"));
    dcv = createWebrootDcv("web", { path: root });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test("writes the key authorization, world-readable, under .well-known/acme-challenge", async () => {
    await dcv.publish(http("abc_DEF-123"), signal);
    const file = join(challengeDir(root), "abc_DEF-123");
    expect(readFileSync(file, "utf8")).toBe("abc_DEF-123.thumb");
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(statSync(challengeDir(root)).mode & 0o777).toBe(0o755);
    // Nothing else: no temp file left behind by the atomic write.
    expect(readdirSync(challengeDir(root))).toEqual(["abc_DEF-123"]);
  });

  // mkdirSync's mode is masked by the umask; under UMask=0077 the webserver could not read challenges.
  test("the challenge folders are 0755 whatever the daemon's umask", async () => {
    const previous = process.umask(0o077);
    try {
      await dcv.publish(http("tok"), signal);
    } finally {
      process.umask(previous);
    }
    expect(statSync(join(root, ".well-known")).mode & 0o777).toBe(0o755);
    expect(statSync(challengeDir(root)).mode & 0o777).toBe(0o755);
  });

  test.each(["a/b", "..", "../escape", "a.b", "", "tok en"])("refuses the token %p on publish and on remove", async (token) => {
    await expect(dcv.publish(http(token), signal)).rejects.toMatchObject({ code: "bad_token", noRetry: true });
    await expect(dcv.remove(http(token), signal)).rejects.toMatchObject({ code: "bad_token" });
    expect(existsSync(join(root, ".well-known"))).toBe(false);
  });

  test("refuses a dns-01 challenge", async () => {
    expect(dcv.supports(sampleChallenge("dns-01"))).toBe(false);
    await expect(dcv.publish(sampleChallenge("dns-01"), signal)).rejects.toMatchObject({
      code: "unsupported",
      message: "webroot web: cannot solve dns-01",
    });
  });

  test("publish with an aborted signal writes nothing", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(dcv.publish(http("tok"), ac.signal)).rejects.toMatchObject({ code: "aborted" });
    expect(existsSync(join(root, ".well-known"))).toBe(false);
  });

  // A daemon stopping mid-publish: the renewal's remove came before the rename, forgot the
  // journal entry, and the file landed after it, left in the webroot for good.
  test("remove after a publish cut short mid-write waits for the write: nothing lands after it", async () => {
    // Big enough that the write is still running when the test sees its temp file.
    const ch: DcvChallenge = { kind: "http-01", domain: "www.example.com", token: "slow", keyAuthorization: "x".repeat(8 * 2 ** 20) };
    const ac = new AbortController();
    const publishing = dcv.publish(ch, ac.signal).catch((e: unknown) => e);
    await waitFor(() => existsSync(challengeDir(root)) && readdirSync(challengeDir(root)).some((n) => n.endsWith(".tmp")), 10_000, 1, "the temp file");
    ac.abort(new Error("daemon stopping"));
    expect(await publishing).toMatchObject({ code: "aborted" });
    await dcv.remove(ch, signal);
    expect(readdirSync(challengeDir(root))).toEqual([]);
  });

  // A worker SIGKILLed between its temp file's open and its rename; the journal's remove comes later, from the daemon.
  test("remove also deletes a temp file a killed writer left of that challenge, and only that challenge's", async () => {
    await dcv.publish(http("other"), signal);
    writeFileSync(join(challengeDir(root), ".tok.1a2b3c.tmp"), "half");
    writeFileSync(join(challengeDir(root), ".other.4d5e6f.tmp"), "half");
    await dcv.remove(http("tok"), signal);
    expect(readdirSync(challengeDir(root)).sort()).toEqual([".other.4d5e6f.tmp", "other"]);
  });

  test("the temp file of a write is named after its challenge", async () => {
    const ch: DcvChallenge = { kind: "http-01", domain: "www.example.com", token: "named", keyAuthorization: "x".repeat(8 * 2 ** 20) };
    const publishing = dcv.publish(ch, signal);
    const temp = await waitFor(() => (existsSync(challengeDir(root)) && readdirSync(challengeDir(root)).find((n) => n.endsWith(".tmp"))) || null, 10_000, 1, "the temp file");
    expect(temp).toMatch(/^\.named\.[0-9a-f]{12}\.tmp$/);
    await publishing;
  });

  test("a write failure names the backend and the file", async () => {
    const missing = createWebrootDcv("gone", { path: join(root, "file-not-dir") });
    await Bun.write(join(root, "file-not-dir"), "x");
    const err = await missing.publish(http("tok"), signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "publish_failed" });
    expect((err as Error).message).toStartWith(`webroot gone: cannot write ${join(root, "file-not-dir", ".well-known", "acme-challenge", "tok")}: `);
  });
});

describe.skipIf(process.getuid?.() !== 0)("a webroot on a mount that never answers", () => {
  let tmp: string;
  let hang: HangFs;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "rota-webroot-hang-"));
    hang = await startHangFs(join(tmp, "nas"), tmp, ["www"]);
  });
  afterAll(async () => {
    await hang?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("publish and remove give up when their signal fires, and the event loop runs meanwhile", async () => {
    const dcv = createWebrootDcv("nas", { path: join(hang.mountpoint, "www") });
    const http: DcvChallenge = { kind: "http-01", domain: "www.example.com", token: "tok", keyAuthorization: "tok.thumb" };
    let ticks = 0;
    const ticking = setInterval(() => ticks++, 10);
    try {
      for (const call of [(s: AbortSignal) => dcv.publish(http, s), (s: AbortSignal) => dcv.remove(http, s)]) {
        const ac = new AbortController();
        const pending = call(ac.signal).catch((e: unknown) => e);
        const before = ticks;
        // Timers fire while the call is stuck in the kernel: nothing blocks the loop.
        while (ticks < before + 3) await Bun.sleep(5);
        ac.abort(new Error("stopping"));
        expect(await pending).toMatchObject({ code: "aborted", message: "webroot nas: cancelled" });
      }
    } finally {
      clearInterval(ticking);
    }
  });
});
