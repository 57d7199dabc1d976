/**
 * @module The start's first listeners in-process: `/healthz` answers at once (on TCP with the
 * TCP app's own headers), every other request waits for the start and gets the app's answer,
 * a failed start answers 503 and lets go of the socket and the lock, and the HTTP listener
 * takes over the server bound for it.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { Hono } from "hono";
import { createTcpApp } from "../api/tcp.tsx";
import { websocket } from "../api/websocket.ts";
import { systemClock } from "../clock.ts";
import type { DaemonConfig, HttpConfig } from "../config/schema.ts";
import { EventBus } from "../events.ts";
import { lockNow } from "../lockfile.ts";
import { openFront, type FrontSettings } from "./front.ts";
import { HttpListener } from "./http-listener.ts";

const TOKEN = "front-test-token-0123456789abc";
const dir = mkdtempSync(join(tmpdir(), "rota-front-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const silent = createConsola({ level: -999 });

async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  await probe.stop(true);
  return port;
}

function settings(name: string, port: number): FrontSettings {
  const stateDir = join(dir, name);
  const http: HttpConfig = {
    listener: { listen: { host: "127.0.0.1", port, ipv6: false }, token: { from: "env", name: "ROTA_FRONT_TEST_TOKEN" }, tls: null, allowPlainHttp: false, sessionHours: 12 },
    publicUrl: undefined,
  };
  return { file: join(dir, "rota.toml"), daemon: { stateDir, socket: join(stateDir, "rota.sock") } as DaemonConfig, http };
}

const unix = (socket: string, path: string) => fetch(`http://rota${path}`, { unix: socket });

test("/healthz at once, as the TCP app answers it; the rest once the start is done, from the app", async () => {
  process.env.ROTA_FRONT_TEST_TOKEN = TOKEN;
  const port = await freePort();
  const s = settings("ok", port);
  const front = await openFront(s);
  const api = new Hono();
  api.get("/api/status", (c) => c.json({ certs: 3 }));
  const listener = new HttpListener({ api, pages: new Hono(), assets: new Hono(), websocket, stateDir: s.daemon.stateDir, bus: new EventBus(() => {}), clock: systemClock, log: silent, bound: front.tcp! });
  try {
    const early = await fetch(`http://127.0.0.1:${port}/healthz`);
    const app = createTcpApp(api, { auth: () => { throw new Error("/healthz reads no credentials"); }, pages: new Hono(), assets: new Hono(), clock: systemClock, log: silent });
    const fromApp = await app.request("/healthz");
    expect(early.status).toBe(200);
    expect(await early.text()).toBe("ok");
    for (const [name, value] of fromApp.headers) expect([name, early.headers.get(name)]).toEqual([name, value]);
    expect(await (await unix(s.daemon.socket, "/healthz")).text()).toBe("ok");

    let answered = false;
    const overSocket = unix(s.daemon.socket, "/api/status").then((r) => ((answered = true), r));
    const overTcp = fetch(`http://127.0.0.1:${port}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    await Bun.sleep(50);
    expect(answered).toBe(false);
    await listener.apply(s.http);
    front.open({ unix: api.fetch, tcp: listener.fetch, websocket });
    expect(await (await overSocket).json()).toEqual({ certs: 3 });
    const tcp = await overTcp;
    expect(tcp.status).toBe(200);
    expect(await tcp.json()).toEqual({ certs: 3 });
    // The server bound first is the listener's now: no second bind, and it answers as the app does.
    expect(listener.origin()).toBe(`http://127.0.0.1:${port}`);
    expect((await fetch(`http://127.0.0.1:${port}/api/status`)).status).toBe(401);
  } finally {
    await listener.stop();
    await front.socket.stop(true);
    front.lock.release();
  }
});

test("a start longer than Bun's 10 s idle timeout: the requests it holds, on the socket and on TCP, still get their answer", async () => {
  process.env.ROTA_FRONT_TEST_TOKEN = TOKEN;
  const port = await freePort();
  const s = settings("slow", port);
  const front = await openFront(s);
  const api = new Hono();
  api.get("/api/status", (c) => c.json({ certs: 3 }));
  const listener = new HttpListener({ api, pages: new Hono(), assets: new Hono(), websocket, stateDir: s.daemon.stateDir, bus: new EventBus(() => {}), clock: systemClock, log: silent, bound: front.tcp! });
  try {
    const overSocket = unix(s.daemon.socket, "/api/status").then((r) => r.json(), (err: Error) => err.message);
    const overTcp = fetch(`http://127.0.0.1:${port}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } }).then((r) => r.json(), (err: Error) => err.message);
    // Bun closes an unanswered request at its next check after 10 s (seen at 10-12 s): 15 s is past it whatever the phase.
    await Bun.sleep(15_000);
    await listener.apply(s.http);
    front.open({ unix: api.fetch, tcp: listener.fetch, websocket });
    expect(await Promise.all([overSocket, overTcp])).toEqual([{ certs: 3 }, { certs: 3 }]);
  } finally {
    await listener.stop();
    await front.socket.stop(true);
    front.lock.release();
  }
}, 30_000);

test("a failed start: held requests get 503, the socket goes, the lock is released", async () => {
  const port = await freePort();
  const s = settings("failed", port);
  const front = await openFront(s);
  const held = unix(s.daemon.socket, "/api/status");
  await Bun.sleep(20);
  await front.fail();
  const res = await held;
  expect(res.status).toBe(503);
  expect(existsSync(s.daemon.socket)).toBe(false);
  expect(await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null)).toBeNull();
  lockNow(join(s.daemon.stateDir, "daemon.lock"), "held").release();
});

test("a lock another daemon holds, a port in use: the same errors as a start, nothing left held", async () => {
  const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  try {
    const s = settings("busy", busy.port!);
    const err = await openFront(s).catch((e: unknown) => e);
    expect((err as { problems?: string[] }).problems).toEqual([`http.listen: 127.0.0.1:${busy.port}: the address is already in use`]);
    const other = lockNow(join(s.daemon.stateDir, "daemon.lock"), "held");
    try {
      const locked = await openFront(settings("busy", await freePort())).catch((e: unknown) => e);
      expect((locked as Error).message).toBe(`daemon: another rota daemon is running on state_dir ${s.daemon.stateDir}`);
    } finally {
      other.release();
    }
  } finally {
    await busy.stop(true);
  }
});
