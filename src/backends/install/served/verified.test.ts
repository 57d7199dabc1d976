/**
 * @module verify_served around an install target, against a loopback TLS server in the test
 * serving the certificate the test picks; and the install contract, kept by the wrapper around
 * a filesystem target whose server reads the files at every handshake (a server always reloaded).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext, createServer, type Server } from "node:tls";
import { summarizeCert } from "../../../crypto/summary.ts";
import { FakeClock } from "../../../testing/fake-clock.ts";
import { canProbeServed, canReadBack, type InstallBackend, type InstallRequest, type ReadBack } from "../../types.ts";
import { makeInstallFixtures, runInstallContract, type InstallFixtures } from "../contract.ts";
import { createFilesystemInstall } from "../filesystem/filesystem.ts";
import { parseEndpoint, type Endpoint, type VerifyServed } from "./config.ts";
import { serverNames, withVerifyServed } from "./verified.ts";

/** A TLS server on 127.0.0.1 serving whichever certificate `serve` last set, recording the SNI names asked for. */
interface Loopback {
  endpoint: Endpoint;
  serve(req: InstallRequest): void;
  names: Array<string | null>;
  close(): Promise<void>;
}

async function loopback(first: InstallRequest): Promise<Loopback> {
  let ctx = createSecureContext({ cert: first.leafPem + first.chainPem, key: first.privateKeyPem });
  const names: Array<string | null> = [];
  const server: Server = createServer({ cert: first.leafPem, key: first.privateKeyPem, SNICallback: (name, cb) => (names.push(name), cb(null, ctx)) }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: parseEndpoint(`127.0.0.1:${port}`) as Endpoint,
    serve: (req) => (ctx = createSecureContext({ cert: req.leafPem + req.chainPem, key: req.privateKeyPem })),
    names,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

runInstallContract("filesystem + verify_served", true, async () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-verify-install-"));
  const server = createServer({
    SNICallback: (_name, cb) => {
      try {
        const read = (file: string) => readFileSync(join(dir, "www", file), "utf8");
        cb(null, createSecureContext({ cert: read("fullchain.pem"), key: read("privkey.pem") }));
      } catch (err) {
        cb(err as Error, undefined);
      }
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = parseEndpoint(`127.0.0.1:${(server.address() as { port: number }).port}`) as Endpoint;
  return {
    backend: withVerifyServed(createFilesystemInstall("files", { dir, uid: undefined, gid: undefined }), "filesystem", { endpoints: [endpoint], allNames: false, timeoutSeconds: 10 }, { clock: new FakeClock() }),
    damage: (certId) => rmSync(join(dir, certId, "privkey.pem")),
    cleanup: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const serialOf = (req: InstallRequest) => summarizeCert(req.leafPem).serial;
const notAfterOf = (req: InstallRequest) => summarizeCert(req.leafPem).notAfter.toISOString();

describe("verify_served", () => {
  let caDir: string;
  let fx: InstallFixtures;
  let server: Loopback;
  const signal = new AbortController().signal;
  const cfg = (o: Partial<VerifyServed> = {}): VerifyServed => ({ endpoints: [server.endpoint], allNames: false, timeoutSeconds: 10, ...o });
  /** An install target that records what it installed and, when `reloads`, makes the server serve it. */
  const target = (reloads: boolean) => {
    const installed: InstallRequest[] = [];
    const backend: InstallBackend = {
      name: "web",
      install: async (req) => {
        installed.push(req);
        if (reloads) server.serve(req);
      },
    };
    return { backend, installed };
  };
  /** The wrapper's waits, stepped on a fake clock: each sleep moves time on and returns at once. */
  const stepping = (clock: FakeClock, onSleep: (n: number) => void = () => {}) => {
    let n = 0;
    return async (ms: number) => {
      onSleep(++n);
      await clock.advance(ms);
    };
  };

  beforeAll(async () => {
    caDir = mkdtempSync(join(tmpdir(), "rota-verify-ca-"));
    fx = await makeInstallFixtures(caDir);
    server = await loopback(fx.first);
  });
  afterAll(async () => {
    await server.close();
    rmSync(caDir, { recursive: true, force: true });
  });
  afterEach(() => server.serve(fx.first));

  test("an install whose certificate is then served succeeds at the first handshake, asked with the cert's first name", async () => {
    const clock = new FakeClock();
    const { backend, installed } = target(true);
    const sleeps: number[] = [];
    server.names.length = 0;
    await withVerifyServed(backend, "filesystem", cfg(), { clock, sleep: stepping(clock, (n) => sleeps.push(n)) }).install(fx.second, signal);
    expect(installed).toEqual([fx.second]);
    expect(sleeps).toEqual([]);
    expect(server.names).toEqual(["www.example.com"]);
  });

  test("a server still serving the old certificate fails the install once the timeout has passed, saying what it serves", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const { backend, installed } = target(false);
    const err = await withVerifyServed(backend, "filesystem", cfg({ timeoutSeconds: 3 }), { clock, sleep: stepping(clock) })
      .install(fx.second, signal)
      .catch((e: unknown) => e);
    expect(installed).toEqual([fx.second]);
    expect(err).toMatchObject({
      code: "not_served",
      message: `filesystem web: ${server.endpoint.text} still serves serial ${serialOf(fx.first)} (valid until ${notAfterOf(fx.first)}) after reload, not ${serialOf(fx.second)}`,
    });
    expect(clock.now().getTime() - start).toBe(3000);
  });

  test("retries until the server picks the certificate up (a reload that lands late)", async () => {
    const clock = new FakeClock();
    const start = clock.now().getTime();
    const { backend } = target(false);
    await withVerifyServed(backend, "filesystem", cfg(), { clock, sleep: stepping(clock, (n) => n === 3 && server.serve(fx.second)) }).install(fx.second, signal);
    expect(clock.now().getTime() - start).toBe(750);
  });

  test("every name with verify_served_all_names, each said in the message; wildcards are never sent", async () => {
    const clock = new FakeClock();
    const { backend } = target(false);
    server.names.length = 0;
    const req = { ...fx.second, domains: ["*.example.com", "www.example.com", "api.example.com"] };
    const err = await withVerifyServed(backend, "filesystem", cfg({ allNames: true, timeoutSeconds: 1 }), { clock, sleep: stepping(clock) })
      .install(req, signal)
      .catch((e: unknown) => e as Error);
    expect(server.names.slice(0, 2).sort()).toEqual(["api.example.com", "www.example.com"]);
    expect((err as Error).message).toContain(`${server.endpoint.text} (SNI www.example.com) still serves serial ${serialOf(fx.first)}`);
    expect((err as Error).message).toContain(`; ${server.endpoint.text} (SNI api.example.com) still serves serial ${serialOf(fx.first)}`);
  });

  test("an endpoint nobody listens on fails the install with the connection's error", async () => {
    const clock = new FakeClock();
    const closed = await new Promise<TcpServer>((resolve) => {
      const s = createTcpServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const { backend } = target(true);
    const err = await withVerifyServed(backend, "filesystem", cfg({ endpoints: [parseEndpoint(`127.0.0.1:${port}`) as Endpoint], timeoutSeconds: 1 }), { clock, sleep: stepping(clock) })
      .install(fx.second, signal)
      .catch((e: unknown) => e as Error);
    expect((err as Error).message).toStartWith(`filesystem web: 127.0.0.1:${port} cannot be read after reload: `);
    expect((err as Error).message).toContain("ECONNREFUSED");
  });

  test("a failed inner install is the error, and nothing is asked", async () => {
    const clock = new FakeClock();
    server.names.length = 0;
    const failing: InstallBackend = { name: "web", install: () => Promise.reject(new Error("filesystem web: cannot write")) };
    await expect(withVerifyServed(failing, "filesystem", cfg(), { clock }).install(fx.second, signal)).rejects.toThrow("filesystem web: cannot write");
    expect(server.names).toEqual([]);
  });

  test("probeServed: what each endpoint serves now, or why it cannot be read; a server that never answers is cut at the timeout", async () => {
    const clock = new FakeClock();
    const silent = await new Promise<TcpServer>((resolve) => {
      const s = createTcpServer(() => {});
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
    const accepted = new Promise<void>((resolve) => silent.once("connection", () => resolve()));
    const silentAt = parseEndpoint(`127.0.0.1:${(silent.address() as { port: number }).port}`) as Endpoint;
    try {
      const probed = withVerifyServed(target(true).backend, "filesystem", cfg({ endpoints: [server.endpoint] }), { clock });
      expect(canProbeServed(probed)).toBe(true);
      const [served] = await probed.probeServed({ certId: "www", domains: ["www.example.com"] }, signal);
      expect(served).toMatchObject({ endpoint: server.endpoint.text, serverName: "www.example.com" });
      expect(served && "leafPem" in served && summarizeCert(served.leafPem).serial).toBe(serialOf(fx.first));

      const seen = withVerifyServed(target(true).backend, "filesystem", cfg({ endpoints: [silentAt] }), { clock }).probeServed({ certId: "www", domains: ["www.example.com"] }, signal);
      await accepted;
      await clock.advance(10_000);
      expect(await seen).toEqual([{ endpoint: silentAt.text, serverName: "www.example.com", error: "no TLS handshake within 10 s" }]);
    } finally {
      silent.close();
    }
  });

  test("a cancelled probe rejects with aborted", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(withVerifyServed(target(true).backend, "filesystem", cfg(), { clock: new FakeClock() }).probeServed({ certId: "www", domains: ["www.example.com"] }, ac.signal)).rejects.toMatchObject({ code: "aborted" });
  });

  test("the inner target's read-back is kept, and a target without one gets none", async () => {
    const present: ReadBack = { state: "present", leafPem: fx.first.leafPem };
    const readable = { ...target(true).backend, readBack: async () => present };
    const clock = new FakeClock();
    const wrapped = withVerifyServed(readable, "filesystem", cfg(), { clock });
    expect(canReadBack(wrapped) && (await wrapped.readBack("www", signal))).toBe(present);
    expect(canReadBack(withVerifyServed(target(true).backend, "filesystem", cfg(), { clock }))).toBe(false);
  });
});

test("serverNames: the first non-wildcard name, every one on request; IP addresses and wildcard-only certs go without SNI", () => {
  expect(serverNames(["*.example.com", "www.example.com", "api.example.com"], false)).toEqual(["www.example.com"]);
  expect(serverNames(["*.example.com", "www.example.com", "api.example.com"], true)).toEqual(["www.example.com", "api.example.com"]);
  expect(serverNames(["*.example.com"], true)).toEqual([null]);
  expect(serverNames(["192.0.2.1", "www.example.com"], true)).toEqual([null, "www.example.com"]);
});
