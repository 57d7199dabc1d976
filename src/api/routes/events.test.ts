/**
 * @module `GET /api/events` over a real Bun server on loopback with Bun's WebSocket client:
 * exact frames in order, the cert filter, unsubscribing on close, many clients, a client
 * that stops reading being dropped while the others keep receiving, and Bun's pings.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Server } from "bun";
import { createConsola } from "consola";
import { EventBus, type Listener, type RotaEvent } from "../../events.ts";
import { createApi } from "../app.ts";
import { eventJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";
import { SLOW_CLIENT_BYTES, websocket } from "../websocket.ts";
import { CLOSE_TOO_SLOW } from "./events.ts";

/** The bus, counting its listeners: a socket's subscription is seen come and go without timing. */
class CountingBus extends EventBus {
  live = 0;
  private waiters: (() => void)[] = [];

  override subscribe(listener: Listener): () => void {
    const unsubscribe = super.subscribe(listener);
    this.count(+1);
    let gone = false;
    return () => {
      if (!gone) this.count(-1);
      gone = true;
      unsubscribe();
    };
  }

  async until(done: (live: number) => boolean): Promise<void> {
    while (!done(this.live)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private count(by: number): void {
    this.live += by;
    for (const wake of this.waiters.splice(0)) wake();
  }
}

const bus = new CountingBus(() => {});
const logLines: string[] = [];
const log = createConsola({ level: 3, reporters: [{ log: (o) => logLines.push(o.args.join(" ")) }] });
// The stream reads the bus and logs; nothing else of the daemon is behind it.
// The cert filter asks the config, then the audit trail: "removed" is only in the latter.
const certs = { find: (id: string) => (["www", "api"].includes(id) ? { config: { id } } : undefined) };
const store = { listRenewalHeads: async (q: { certId: string }) => (q.certId === "removed" ? [{ id: "r1" }] : []) };
const app = createApi({ bus, log, certs, store } as unknown as ApiDeps);
let server: Server<unknown>;

beforeAll(() => {
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch, websocket });
});
afterAll(async () => {
  await server.stop(true);
});

interface Client {
  /** Bun's own type: the DOM lib's WebSocket has no `pause()`. */
  ws: Bun.WebSocket;
  frames: string[];
  closed: Promise<CloseEvent>;
  /** Resolves with the frames once there are at least `n`. */
  received(n: number): Promise<string[]>;
}

/** Connects and waits until the server has subscribed it to the bus. */
async function connect(query = ""): Promise<Client> {
  const before = bus.live;
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/events${query}`) as unknown as Bun.WebSocket;
  const frames: string[] = [];
  let wake = () => {};
  ws.addEventListener("message", (m) => {
    frames.push(String(m.data));
    wake();
  });
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  await bus.until((live) => live > before);
  return {
    ws,
    frames,
    closed,
    async received(n) {
      while (frames.length < n) await new Promise<void>((resolve) => (wake = resolve));
      return frames;
    },
  };
}

async function disconnect(...clients: Client[]): Promise<void> {
  for (const c of clients) c.ws.close();
  await Promise.all(clients.map((c) => c.closed));
}

const at = new Date("2030-01-01T00:00:00.000Z");
const later = new Date("2030-01-01T00:00:01.250Z");

// One of every event type: a new type added to RotaEvent fails to compile here until it has a frame below.
const oneOfEach: { [T in RotaEvent["type"]]: Extract<RotaEvent, { type: T }> } = {
  "cert.due": { type: "cert.due", certId: "www", reason: "expires in 10 days (threshold 30)", at },
  "renewal.started": { type: "renewal.started", renewalId: "r1", certId: "www", trigger: "manual", installOnly: false, reason: "forced", at },
  "renewal.step_started": { type: "renewal.step_started", renewalId: "r1", certId: "www", step: "key", at },
  "renewal.step": { type: "renewal.step", renewalId: "r1", certId: "www", step: "key", status: "ok", message: "ecdsa-p256 key reused", durationMs: 3.6, at: later },
  "renewal.succeeded": { type: "renewal.succeeded", renewalId: "r1", certId: "www", serial: "0a1b", notAfter: new Date("2030-04-01T00:00:00Z"), at: later },
  "renewal.failed": { type: "renewal.failed", renewalId: "r2", certId: "www", error: "acme: rate limited", interrupted: false, retryAt: null, at: later },
  "cert.expiring": { type: "cert.expiring", certId: "www", daysLeft: 3, notAfter: new Date("2030-01-04T00:00:00Z"), at: later },
  "cert.recovered": { type: "cert.recovered", certId: "www", renewalId: "r3", at: later },
  "cert.halted": { type: "cert.halted", certId: "www", failures: 5, lastError: "acme le: authorization invalid: connection refused", at: later },
  "cert.resumed": { type: "cert.resumed", certId: "www", at: later },
  "alert.test": { type: "alert.test", certId: null, sink: "mail", at: later },
  "target.action_required": { type: "target.action_required", target: "nas", certId: "www", code: "dsm_reauth_required", message: "dsm nas: wrong account or password", at: later },
  "store.disconnected": { type: "store.disconnected", error: "no answer within 5 s", at: later },
  "store.reconnected": { type: "store.reconnected", flushed: 12, dropped: 0, at: later },
  "cluster.leader_acquired": { type: "cluster.leader_acquired", nodeId: "nas-1", term: 7, at: later },
  "cluster.leader_lost": { type: "cluster.leader_lost", nodeId: "nas-1", term: 7, reason: "refresh_failed", at: later },
  "cluster.install_refused": { type: "cluster.install_refused", nodeId: "nas-2", certId: "www", serial: "0a1b", reason: "key_mismatch: the leaf is for another key", at: later },
};

const expectedFrames = [
  `{"type":"cert.due","cert_id":"www","reason":"expires in 10 days (threshold 30)","at":"2030-01-01T00:00:00.000Z"}`,
  `{"type":"renewal.started","renewal_id":"r1","cert_id":"www","trigger":"manual","install_only":false,"reason":"forced","at":"2030-01-01T00:00:00.000Z"}`,
  `{"type":"renewal.step_started","renewal_id":"r1","cert_id":"www","step":"key","at":"2030-01-01T00:00:00.000Z"}`,
  `{"type":"renewal.step","renewal_id":"r1","cert_id":"www","step":"key","status":"ok","message":"ecdsa-p256 key reused","duration_ms":4,"at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"renewal.succeeded","renewal_id":"r1","cert_id":"www","serial":"0a1b","not_after":"2030-04-01T00:00:00.000Z","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"renewal.failed","renewal_id":"r2","cert_id":"www","error":"acme: rate limited","interrupted":false,"retry_at":null,"at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"cert.expiring","cert_id":"www","days_left":3,"not_after":"2030-01-04T00:00:00.000Z","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"cert.recovered","cert_id":"www","renewal_id":"r3","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"cert.halted","cert_id":"www","failures":5,"last_error":"acme le: authorization invalid: connection refused","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"cert.resumed","cert_id":"www","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"alert.test","cert_id":null,"sink":"mail","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"target.action_required","target":"nas","cert_id":"www","code":"dsm_reauth_required","message":"dsm nas: wrong account or password","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"store.disconnected","error":"no answer within 5 s","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"store.reconnected","flushed":12,"dropped":0,"at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"cluster.leader_acquired","node_id":"nas-1","term":7,"at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"cluster.leader_lost","node_id":"nas-1","term":7,"reason":"refresh_failed","at":"2030-01-01T00:00:01.250Z"}`,
  `{"type":"cluster.install_refused","node_id":"nas-2","cert_id":"www","serial":"0a1b","reason":"key_mismatch: the leaf is for another key","at":"2030-01-01T00:00:01.250Z"}`,
];

test("every event becomes one frame of exactly its documented fields, in the order emitted", async () => {
  const client = await connect();
  for (const e of Object.values(oneOfEach)) bus.emit(e);
  expect(await client.received(expectedFrames.length)).toEqual(expectedFrames);
  await disconnect(client);
});

test("docs/openapi.json documents each event type with exactly the fields of its frame", async () => {
  const doc = (await Bun.file(join(import.meta.dir, "..", "..", "..", "docs", "openapi.json")).json()) as {
    components: { schemas: { Event: { oneOf: { properties: Record<string, { const?: string }> }[] } } };
  };
  const documented = doc.components.schemas.Event.oneOf.map((o) => Object.keys(o.properties));
  const sent = Object.values(oneOfEach).map((e) => Object.keys(eventJson(e)));
  expect(new Set(documented.map((keys) => keys.join(",")))).toEqual(new Set(sent.map((keys) => keys.join(","))));
});

test("?cert= keeps one cert's events; a cert only the audit trail knows is no error", async () => {
  const www = await connect("?cert=www");
  const later = await connect("?cert=removed");
  const all = await connect();
  const due = (certId: string, reason = "missing"): RotaEvent => ({ type: "cert.due", certId, reason, at });
  bus.emit(due("api"));
  bus.emit(due("www"));
  bus.emit(due("removed"));
  // Frames keep their order on a connection: a last event of its cert shows a client got nothing else before it.
  bus.emit(due("www", "last"));
  bus.emit(due("removed", "last"));
  const frameOf = (certId: string, reason = "missing") => `{"type":"cert.due","cert_id":"${certId}","reason":"${reason}","at":"2030-01-01T00:00:00.000Z"}`;
  expect(await all.received(5)).toEqual([frameOf("api"), frameOf("www"), frameOf("removed"), frameOf("www", "last"), frameOf("removed", "last")]);
  expect(await www.received(2)).toEqual([frameOf("www"), frameOf("www", "last")]);
  expect(await later.received(2)).toEqual([frameOf("removed"), frameOf("removed", "last")]);
  await disconnect(www, later, all);
});

test("a plain GET answers 426, an empty cert= 400, an unknown cert 404, a broken handshake 400: all JSON", async () => {
  const plain = await app.request("/api/events");
  expect(plain.status).toBe(426);
  expect(plain.headers.get("upgrade")).toBe("websocket");
  expect(await plain.json()).toEqual({ error: "GET /api/events is a WebSocket: upgrade the connection (Upgrade: websocket)" });
  const empty = await app.request("/api/events?cert=", { headers: { upgrade: "websocket" } });
  expect(empty.status).toBe(400);
  expect(await empty.json()).toEqual({ error: "cert must be a cert id" });
  const unknown = await app.request("/api/events?cert=nope", { headers: { upgrade: "websocket" } });
  expect(unknown.status).toBe(404);
  expect(await unknown.json()).toEqual({ error: 'unknown cert "nope"' });
  const noKey = await fetch(`http://127.0.0.1:${server.port}/api/events`, { headers: { upgrade: "websocket", connection: "upgrade" } });
  expect(noKey.status).toBe(400);
  expect(await noKey.json()).toEqual({ error: "bad WebSocket handshake" });
  expect(bus.live).toBe(0);
});

test("closing the socket unsubscribes it from the bus", async () => {
  const before = bus.live;
  const clients = await Promise.all([connect(), connect("?cert=www"), connect()]);
  expect(bus.live).toBe(before + 3);
  await disconnect(clients[0]!);
  await bus.until((live) => live === before + 2);
  await disconnect(clients[1]!, clients[2]!);
  await bus.until((live) => live === before);
});

test("500 clients at once all receive an event, and the server still answers /healthz", async () => {
  const before = bus.live;
  const clients = await Promise.all(Array.from({ length: 500 }, () => connect()));
  expect(bus.live).toBe(before + 500);
  bus.emit(oneOfEach["cert.due"]);
  for (const c of clients) expect(await c.received(1)).toEqual([expectedFrames[0]!]);
  const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  expect(await health.text()).toBe("ok");
  await disconnect(...clients);
  await bus.until((live) => live === before);
});

test("a client that stops reading is dropped with 1013 once it is too far behind; the others get every event", async () => {
  const before = bus.live;
  const stalled = await connect();
  const reader = await connect();
  stalled.ws.pause();
  // Big frames, so that the kernel's socket buffers (megabytes on loopback) fill quickly too.
  const message = "x".repeat(4096);
  let emitted = 0;
  while (bus.live === before + 2) {
    for (let i = 0; i < 20; i++) bus.emit({ type: "renewal.step", renewalId: `r${emitted++}`, certId: "www", step: "publish", status: "ok", message, durationMs: 1, at });
    // Let the server write and the reader read before the next burst.
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(bus.live).toBe(before + 1);
  expect(emitted).toBeGreaterThan(SLOW_CLIENT_BYTES / 4096);
  const frames = await reader.received(emitted);
  expect(frames.length).toBe(emitted);
  expect(JSON.parse(frames.at(-1)!).renewal_id).toBe(`r${emitted - 1}`);
  expect(logLines.filter((l) => l.includes("/api/events"))).toEqual(["api: GET /api/events: dropped a client 127.0.0.1 more than 256 KiB behind"]);
  // Once it reads again, it finds the close frame after the frames it had been sent.
  stalled.ws.resume();
  const close = await stalled.closed;
  expect([close.code, close.reason]).toEqual([CLOSE_TOO_SLOW, "too slow: events unread"]);
  expect(stalled.frames.length).toBeLessThan(emitted);
  await disconnect(reader);
  await bus.until((live) => live === before);
});

test("a client that sends more than 4 KiB at once is closed with 1009, and unsubscribed", async () => {
  const before = bus.live;
  const client = await connect();
  client.ws.send("x".repeat(4097));
  expect((await client.closed).code).toBe(1009);
  await bus.until((live) => live === before);
});

test("Bun pings an idle client before the idle timeout (a raw client sees the ping frame)", async () => {
  // The minimum timeout Bun takes, so the first ping comes after about 4 s rather than 24.
  const before = bus.live;
  const quick = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch, websocket: { ...websocket, idleTimeout: 8 } });
  try {
    let received = Buffer.alloc(0);
    let wake = () => {};
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: quick.port!,
      socket: {
        data(_s, chunk) {
          received = Buffer.concat([received, chunk]);
          wake();
        },
      },
    });
    socket.write(
      "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const frameStart = () => received.indexOf("\r\n\r\n") + 4;
    while (!received.includes("\r\n\r\n") || received.length <= frameStart()) await new Promise<void>((resolve) => (wake = resolve));
    expect(received.toString("latin1", 0, 34)).toBe("HTTP/1.1 101 Switching Protocols\r\n");
    // FIN + opcode 9 (RFC 6455 §5.5.2), sent unprompted.
    expect(received[frameStart()]).toBe(0x89);
    socket.end();
    await bus.until((live) => live === before);
  } finally {
    await quick.stop(true);
  }
}, 15_000);
