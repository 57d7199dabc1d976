/**
 * @module Smoke test of the end-to-end harness itself: pebble, challtestsrv and nginx
 * on loopback, and a real certificate issued through them by Debian's lego.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  makeTempDir,
  removeTempDir,
  spawnServer,
  startNginx,
  startPebble,
  waitFor,
  type Nginx,
  type Pebble,
} from "./index.ts";

let dir: string;
let nginx: Nginx;
let pebble: Pebble;

beforeAll(async () => {
  dir = makeTempDir("rota-harness-");
  nginx = await startNginx({ prefix: join(dir, "nginx"), webroot: join(dir, "webroot") });
  pebble = await startPebble({ dir: join(dir, "pebble"), httpPort: nginx.port });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([pebble?.stop(), nginx?.stop()]);
  if (dir) removeTempDir(dir);
}, 30_000);

describe("pebble", () => {
  test("directory lists newOrder and trusts only the throwaway CA", async () => {
    const ca = readFileSync(pebble.caBundlePath, "utf8");
    const res = await fetch(pebble.directoryUrl, { tls: { ca } });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.newOrder).toStartWith("https://127.0.0.1:");
    // Without the CA the listener must be refused, or trust tests would prove nothing.
    await expect(fetch(pebble.directoryUrl)).rejects.toThrow();
  });

  test("root and intermediate come as PEM from the management API", async () => {
    const root = new X509Certificate(await pebble.rootPem());
    const inter = new X509Certificate(await pebble.intermediatePem());
    expect(inter.checkIssued(root)).toBe(true);
  });

  test("challtestsrv answers A with 127.0.0.1, no AAAA, and serves TXT", async () => {
    const r = new Resolver();
    r.setServers([`127.0.0.1:${pebble.dnsPort}`]);
    expect(await r.resolve4("anything.example.test")).toEqual(["127.0.0.1"]);
    await expect(r.resolve6("anything.example.test")).rejects.toThrow();
    await pebble.setTxt("_acme-challenge.txt.example.test", "token-1");
    expect(await r.resolveTxt("_acme-challenge.txt.example.test")).toEqual([["token-1"]]);
    await pebble.clearTxt("_acme-challenge.txt.example.test.");
    await expect(r.resolveTxt("_acme-challenge.txt.example.test")).rejects.toThrow();
  });
});

describe("nginx", () => {
  test("serves the webroot, hangs when frozen, answers again when thawed", async () => {
    writeFileSync(join(nginx.webroot, ".well-known/acme-challenge/x"), "hello");
    const url = `http://127.0.0.1:${nginx.port}/.well-known/acme-challenge/x`;
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/plain");
    expect(await res.text()).toBe("hello");

    await nginx.freeze();
    try {
      const hung = fetch(url, { signal: AbortSignal.timeout(1000) });
      await expect(hung).rejects.toThrow(/timed out|abort/i);
    } finally {
      await nginx.thaw();
    }
    expect(await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text()).toBe("hello");
  });

  test("a reload: retired() resolves once the workers from before it have exited, the new one serving", async () => {
    const old = await nginx.workerPids();
    expect(old).toHaveLength(1);
    await nginx.reload();
    await nginx.retired(old);
    const now = await nginx.workerPids();
    expect(now).toHaveLength(1);
    expect(now).not.toContain(old[0]!);
    expect((await fetch(`http://127.0.0.1:${nginx.port}/.well-known/acme-challenge/x`)).status).toBe(200);
  });
});

describe("full loop", () => {
  test("lego issues a certificate from pebble by HTTP-01 through nginx", async () => {
    const legoDir = join(dir, "lego");
    mkdirSync(legoDir);
    // Async spawn: a blocked event loop would also block the cleanup on Ctrl-C.
    const lego = Bun.spawn(
      [
        "timeout", "--signal=KILL", "90",
        "lego", "--server", pebble.directoryUrl, "--accept-tos", "--email", "t@example.org",
        "--path", legoDir, "--key-type", "ec256", "--domains", "smoke.example.test",
        "--http", "--http.webroot", nginx.webroot, "run",
      ],
      { env: { ...process.env, LEGO_CA_CERTIFICATES: pebble.caBundlePath }, stdout: "pipe", stderr: "pipe" },
    );
    const [out, err, code] = await Promise.all([
      new Response(lego.stdout).text(),
      new Response(lego.stderr).text(),
      lego.exited,
    ]);
    if (code !== 0) throw new Error(`lego failed (${code}):\n${out}${err}\n${pebble.output()}`);

    const pem = readFileSync(join(legoDir, "certificates", "smoke.example.test.crt"), "utf8");
    const leaf = new X509Certificate(pem);
    expect(leaf.subjectAltName).toContain("DNS:smoke.example.test");
    expect(leaf.checkIssued(new X509Certificate(await pebble.intermediatePem()))).toBe(true);
    const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(90);
  }, 100_000);
});

describe("processes", () => {
  test("stop() sends SIGTERM to the command and reports 128+15", async () => {
    const s = spawnServer({ name: "sleep", logDir: dir, cmd: ["sleep", "60"] });
    expect(await s.childPid()).not.toBe(s.pid);
    expect(await s.stop()).toBe(143);
  });

  test("stop() escalates to SIGKILL after the grace period", async () => {
    const s = spawnServer({
      name: "stubborn",
      logDir: dir,
      graceMs: 300,
      cmd: ["bash", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"],
    });
    // The trap is set once "ready" is out; a SIGTERM before that would kill bash at once.
    await waitFor(() => s.output().includes("ready"), 10_000, 20, "stubborn to print ready");
    expect(await s.stop()).toBe(137);
  });

  test("the watchdog kills a server on its own", async () => {
    const s = spawnServer({ name: "abandoned", logDir: dir, watchdogSeconds: 1, cmd: ["sleep", "60"] });
    // With --signal=KILL GNU timeout reports 128+9, not its usual 124.
    expect(await s.exited).toBe(137);
  });
});
