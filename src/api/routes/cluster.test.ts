/** @module The cluster routes in-process against a fake port: the report, the off body, step-down's three answers, and the TCP listener's authentication in front of them. */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createConsola } from "consola";
import { Hono } from "hono";
import { FakeClock } from "../../testing/fake-clock.ts";
import { clusterReport, FakeClusterPort } from "../../testing/fake-cluster.ts";
import { createApi } from "../app.ts";
import { Sessions } from "../auth/session.ts";
import type { ApiDeps } from "../ports.ts";
import { createTcpApp, type TcpEnv } from "../tcp.tsx";

const quiet = createConsola({ level: Number.NEGATIVE_INFINITY });
const api = (cluster?: FakeClusterPort) => createApi({ log: quiet, ...(cluster ? { cluster } : {}) } as ApiDeps);
const stepDown = (app: Hono) => app.request("/api/cluster/step-down", { method: "POST" });

describe("GET /api/cluster", () => {
  test("the port's report, as it gives it", async () => {
    const res = await api(new FakeClusterPort()).request("/api/cluster");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(clusterReport());
  });

  test("cluster off: enabled false, every other key null or empty", async () => {
    const res = await api().request("/api/cluster");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      enabled: false,
      node_id: null,
      role: null,
      term: null,
      leader: null,
      lock_ttl_seconds: null,
      database: null,
      nodes: [],
      recent_events: [],
    });
  });
});

describe("POST /api/cluster/step-down", () => {
  test("the leader: 200 with the port's answer", async () => {
    const port = new FakeClusterPort(clusterReport({ node_id: "nas-1", role: "leader" }), { node_id: "nas-1", term: 7, released: true, hold_until: "2030-01-10T12:00:30.000Z" });
    const res = await stepDown(api(port));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ node_id: "nas-1", term: 7, released: true, hold_until: "2030-01-10T12:00:30.000Z" });
    expect(port.stepDowns).toBe(1);
  });

  test("a follower: 409 naming the leader, or null when no node leads", async () => {
    const res = await stepDown(api(new FakeClusterPort()));
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ error: "not the leader", leader: "nas-1" });
    const leaderless = await stepDown(api(new FakeClusterPort(clusterReport({ leader: null }))));
    expect(leaderless.status).toBe(409);
    expect(await leaderless.json()).toEqual({ error: "not the leader", leader: null });
  });

  test("cluster off: 400", async () => {
    const res = await stepDown(api());
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "cluster mode is off ([cluster] enabled = false)" });
  });

  test("a GET is no step-down", async () => {
    const port = new FakeClusterPort();
    expect((await api(port).request("/api/cluster/step-down")).status).toBe(404);
    expect(port.stepDowns).toBe(0);
  });
});

describe("on TCP", () => {
  const TOKEN = "correct-horse-battery-staple-42";
  const clock = new FakeClock();
  const port = new FakeClusterPort();
  const sessions = new Sessions(randomBytes(32), TOKEN, 12, clock);
  const tcp = createTcpApp(api(port), { auth: () => ({ token: TOKEN, sessions, tls: false, publicOrigin: undefined }), pages: new Hono<TcpEnv>(), assets: new Hono(), clock, log: quiet, failDelayMs: 0 });
  const req = (path: string, init: RequestInit = {}) => tcp.request(`http://127.0.0.1:8844${path}`, init);

  test("both routes need the token; a step-down with a session needs its CSRF token", async () => {
    expect((await req("/api/cluster")).status).toBe(401);
    expect((await req("/api/cluster/step-down", { method: "POST" })).status).toBe(401);
    expect((await req("/api/cluster", { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const login = await req("/login", { method: "POST", body: new URLSearchParams({ token: TOKEN, next: "/" }), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    const cookie = (login.headers.get("Set-Cookie") ?? "").split(";")[0]!;
    expect((await req("/api/cluster/step-down", { method: "POST", headers: { Cookie: cookie } })).status).toBe(403);
    expect(port.stepDowns).toBe(0);
    expect((await req("/api/cluster/step-down", { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(409);
    expect(port.stepDowns).toBe(1);
  });
});
