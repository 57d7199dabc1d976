/**
 * @module `/api/events` WebSockets on the TCP listener end with the credential that opened
 * them (tester's finding on issue 6): a logout closes that session's sockets, the session's
 * expiry closes them on time, a new token closes those opened with the old token or its
 * sessions — each with 4401 — while the others keep receiving.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { Hono } from "hono";
import { createApi } from "../api/app.ts";
import { CLOSE_CREDENTIAL_ENDED } from "../api/auth/stream-guards.ts";
import type { ApiDeps } from "../api/ports.ts";
import type { TcpEnv } from "../api/tcp.tsx";
import { websocket } from "../api/websocket.ts";
import type { HttpConfig } from "../config/schema.ts";
import { EventBus } from "../events.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { HttpListener } from "./http-listener.ts";

const TOKEN = "streams-test-token-0123456789";
const ENV = "ROTA_STREAMS_TEST_TOKEN";
const dir = mkdtempSync(join(tmpdir(), "rota-streams-"));
const clock = new FakeClock();
const bus = new EventBus(() => {});
const log = createConsola({ level: -999 });
const pages = new Hono<TcpEnv>().get("/", (c) => c.text(c.get("session")?.csrf ?? ""));
const listener = new HttpListener({ api: createApi({ bus, log } as unknown as ApiDeps), pages, assets: new Hono(), websocket, stateDir: dir, bus, clock, log });
let port: number;

const config = (): HttpConfig => ({
  listener: { listen: { host: "127.0.0.1", port, ipv6: false }, token: { from: "env", name: ENV }, tls: null, allowPlainHttp: false, sessionHours: 1 },
  publicUrl: undefined,
});
const origin = () => `http://127.0.0.1:${port}`;
const call = (path: string, init: RequestInit = {}) => fetch(`${origin()}${path}`, { ...init, redirect: "manual" });

beforeAll(async () => {
  process.env[ENV] = TOKEN;
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  port = probe.port!;
  await probe.stop(true);
  await listener.apply(config());
});
afterAll(async () => {
  await listener.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function login(): Promise<{ cookie: string; csrf: string }> {
  const res = await call("/login", { method: "POST", body: new URLSearchParams({ token: process.env[ENV]! }) });
  const cookie = (res.headers.get("Set-Cookie") ?? "").split(";")[0]!;
  return { cookie, csrf: await (await call("/", { headers: { Cookie: cookie } })).text() };
}

interface Socket {
  frames: string[];
  closed: Promise<{ code: number; reason: string }>;
  isOpen: () => boolean;
  close: () => void;
}

async function open(headers: Record<string, string>): Promise<Socket> {
  // Bun's client takes headers: the credential of a browser's cookie or a script's token.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/events`, { headers } as unknown as string[]);
  const frames: string[] = [];
  ws.addEventListener("message", (m) => frames.push(String(m.data)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })));
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  return { frames, closed, isOpen: () => ws.readyState === WebSocket.OPEN, close: () => ws.close() };
}

/** Emits events until `s` has one: the server subscribes it just after the handshake, with no signal the client can see. */
async function receives(s: Socket): Promise<void> {
  const before = s.frames.length;
  for (let i = 0; s.frames.length === before; i++) {
    bus.emit({ type: "cert.due", certId: `probe-${i}`, reason: "probe", at: clock.now() });
    await Bun.sleep(5);
  }
}

test("a logout closes that session's sockets with 4401, and only those", async () => {
  const a = await login();
  const b = await login();
  const sa = await open({ Cookie: a.cookie, Origin: origin() });
  const sb = await open({ Cookie: b.cookie, Origin: origin() });
  await receives(sa);
  expect((await call("/logout", { method: "POST", headers: { Cookie: a.cookie, "X-CSRF-Token": a.csrf } })).status).toBe(303);
  expect(await sa.closed).toEqual({ code: CLOSE_CREDENTIAL_ENDED, reason: "session ended: sign in again" });
  await receives(sb);
  expect(sb.isOpen()).toBe(true);
  sb.close();
});

test("a session's socket closes when the session expires", async () => {
  const s = await login();
  const ws = await open({ Cookie: s.cookie });
  await receives(ws);
  await clock.advance(3600 * 1000);
  expect((await ws.closed).code).toBe(CLOSE_CREDENTIAL_ENDED);
});

test("a new token closes the sockets opened with the old token and with its sessions", async () => {
  const s = await login();
  const bySession = await open({ Cookie: s.cookie });
  const byToken = await open({ Authorization: `Bearer ${TOKEN}` });
  await receives(bySession);
  await receives(byToken);
  process.env[ENV] = `${TOKEN}-rotated`;
  try {
    expect(await listener.apply(config())).toBe(true);
    expect(await bySession.closed).toEqual({ code: CLOSE_CREDENTIAL_ENDED, reason: "session ended: sign in again" });
    expect(await byToken.closed).toEqual({ code: CLOSE_CREDENTIAL_ENDED, reason: "token no longer valid" });
    const fresh = await open({ Authorization: `Bearer ${TOKEN}-rotated` });
    await receives(fresh);
    fresh.close();
  } finally {
    process.env[ENV] = TOKEN;
    await listener.apply(config());
  }
});
