/**
 * @module `rota cluster status|step-down`, `rota status`'s cluster line and `rota renew` on a
 * follower, each run in-process against the real API app on a unix socket with a fake
 * cluster port: the printed report and the exit code for each daemon answer.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import type { Actions, ApiDeps, CertSource } from "../../api/ports.ts";
import { createApi } from "../../api/app.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import type { RenewRequestResult } from "../../scheduler/scheduler.ts";
import type { AuditStore } from "../../store/types.ts";
import { serveApi, type ServedApi } from "../../testing/cli-run.ts";
import { FakeClock } from "../../testing/fake-clock.ts";
import { clusterReport, FakeClusterPort } from "../../testing/fake-cluster.ts";
import { EXIT } from "../exit.ts";
import cluster from "./cluster.ts";
import renew from "./renew.ts";
import status from "./status.ts";

const clock = new FakeClock("2030-01-10T12:00:00Z");
let renewReply: RenewRequestResult = { status: "not_leader", leader: "nas-1", term: 7 };

function deps(port: FakeClusterPort | undefined): ApiDeps {
  const www = { config: { id: "www" } } as WatchedCert;
  const certs = { certs: () => [], find: (id: string) => (id === "www" ? www : undefined), checkIntervalSeconds: () => 3600, nextTickAt: () => null } as unknown as CertSource;
  const actions = { renew: async () => renewReply } as unknown as Actions;
  const store = { health: () => ({ backend: "surrealdb", connected: true, bufferedWrites: 0, droppedWrites: 0 }) } as unknown as AuditStore;
  return { version: "0.2.0", configFile: "/etc/rota/rota.toml", startedAt: clock.now(), certs, actions, store, clock, log: createConsola({ level: Number.NEGATIVE_INFINITY }), ...(port ? { cluster: port } : {}) } as unknown as ApiDeps;
}

const port = new FakeClusterPort();
const on = serveApi(createApi(deps(port)));
const off = serveApi(createApi(deps(undefined)));
afterAll(() => Promise.all([on.stop(), off.stop()]));

/** `rota cluster ARGS…` */
const run = (api: ServedApi, ...args: string[]) => api.run(cluster, args);
const rotaStatus = (api: ServedApi) => api.run(status, []);

describe("rota cluster status", () => {
  test("connected with a live leader: the report, exit 0", async () => {
    port.report = clusterReport();
    const r = await run(on, "status");
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout.split("\n")).toEqual([
      "node nas-2: follower, term 7",
      "leader: nas-1 since 2030-01-10T11:00:00.000Z, lease until 2030-01-10T12:00:20.000Z",
      "database: connected",
      "",
      "NODE   ROLE      ALIVE  LAST HEARTBEAT            VERSION",
      "nas-1  leader    yes    2030-01-10T11:59:55.000Z  0.2.0",
      "nas-2  follower  yes    2030-01-10T11:59:58.000Z  0.2.0",
      "nas-3  follower  NO     2030-01-10T11:40:00.000Z  0.1.9",
      "",
      "NODE   CERT  STATE    INSTALLED  STORED  CHECKED                   ERROR",
      "nas-1  www   in_sync  0a1b       0a1b    2030-01-10T11:59:00.000Z",
      "nas-2  www   syncing  09ff       0a1b    2030-01-10T11:59:30.000Z",
      "nas-3  www   refused  -          0a1b    2030-01-10T11:39:00.000Z  key_mismatch: the stored certificate is not for this node's key /etc/rota/www.key",
      "",
      "recent events:",
      "  2030-01-10T11:00:00.000Z  nas-1  leader_acquired term 7: took the lease",
    ]);
  });

  test("no live leader, or the database away: the report all the same, exit 1", async () => {
    port.report = clusterReport({ leader: null });
    const leaderless = await run(on, "status");
    expect(leaderless.code).toBe(EXIT.failed);
    expect(leaderless.stderr).toBe("");
    expect(leaderless.stdout).toContain("leader: none: no node leads right now\n");
    port.report = clusterReport({ database: { connected: false, buffered_writes: 12, dropped_writes: 2 } });
    const away = await run(on, "status");
    expect(away.code).toBe(EXIT.failed);
    expect(away.stdout).toContain("\ndatabase: DISCONNECTED (12 writes buffered, 2 dropped)\n");
  });

  test("--json: the daemon's body as it is, the same exit codes", async () => {
    port.report = clusterReport();
    const ok = await run(on, "status", "--json");
    expect([ok.code, JSON.parse(ok.stdout)]).toEqual([EXIT.ok, clusterReport()]);
    port.report = clusterReport({ leader: null });
    const bad = await run(on, "status", "--json");
    expect([bad.code, JSON.parse(bad.stdout).leader]).toEqual([EXIT.failed, null]);
  });

  test("cluster off: says so, exit 0; --json prints the off body", async () => {
    expect(await run(off, "status")).toEqual({ code: EXIT.ok, stdout: "cluster mode is off", stderr: "" });
    const json = await run(off, "status", "--json");
    expect([json.code, JSON.parse(json.stdout).enabled]).toEqual([EXIT.ok, false]);
  });

  test("no daemon at the socket: exit 3", async () => {
    const gone = serveApi(createApi(deps(port)));
    await gone.stop();
    const res = await gone.run(cluster, ["status"]);
    expect(res.code).toBe(EXIT.unreachable);
    expect(res.stderr).toStartWith(`rota: the daemon is not reachable at ${gone.socket}: no socket there;`);
  });
});

describe("rota cluster step-down", () => {
  test("the leader: 200, exit 0, and what it did", async () => {
    port.stepDownReply = { node_id: "nas-1", term: 7, released: true, hold_until: "2030-01-10T12:00:30.000Z" };
    expect(await run(on, "step-down")).toEqual({ code: EXIT.ok, stdout: "nas-1 stepped down at term 7; it does not take the lease again before 2030-01-10T12:00:30.000Z", stderr: "" });
    port.stepDownReply = { ...port.stepDownReply, released: false };
    const unreleased = await run(on, "step-down");
    expect(unreleased.code).toBe(EXIT.ok);
    expect(unreleased.stdout).toBe(
      "nas-1 stopped leading at term 7, but the database could not be reached to release the lease: another node leads once it lapses; nas-1 holds off until 2030-01-10T12:00:30.000Z",
    );
    const json = await run(on, "step-down", "--json");
    expect([json.code, JSON.parse(json.stdout)]).toEqual([EXIT.ok, port.stepDownReply]);
  });

  test("a follower: 409, exit 1 naming the leader", async () => {
    port.stepDownReply = null;
    port.report = clusterReport();
    expect(await run(on, "step-down")).toEqual({ code: EXIT.failed, stdout: "", stderr: "rota: this node is not the leader; nas-1 is (run rota cluster step-down there)" });
    port.report = clusterReport({ leader: null });
    expect((await run(on, "step-down")).stderr).toBe("rota: this node is not the leader, and no node leads right now");
    const json = await run(on, "step-down", "--json");
    expect([json.code, JSON.parse(json.stdout), json.stderr]).toEqual([EXIT.failed, { error: "not the leader", leader: null }, ""]);
  });

  test("cluster off: 400, exit 2", async () => {
    expect(await run(off, "step-down")).toEqual({ code: EXIT.usage, stdout: "", stderr: "rota: the daemon refused the request: cluster mode is off ([cluster] enabled = false)" });
  });

  test("cluster off with --json: the daemon's error body on stdout, nothing on stderr, exit 2", async () => {
    const json = await run(off, "step-down", "--json");
    expect([json.code, JSON.parse(json.stdout), json.stderr]).toEqual([EXIT.usage, { error: "cluster mode is off ([cluster] enabled = false)" }, ""]);
  });
});

describe("rota status", () => {
  test("a cluster node adds its line, node counts from the cluster report", async () => {
    port.report = clusterReport();
    const r = await rotaStatus(on);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout.split("\n").at(-1)).toBe("cluster: nas-2 follower, leader nas-1 (term 7), 2/3 nodes alive");
    port.report = clusterReport({ node_id: "nas-1", role: "leader" });
    expect((await rotaStatus(on)).stdout.split("\n").at(-1)).toBe("cluster: nas-1 leader (term 7), 2/3 nodes alive");
    port.report = clusterReport({ leader: null });
    expect((await rotaStatus(on)).stdout.split("\n").at(-1)).toBe("cluster: nas-2 follower, no leader (term 7), 2/3 nodes alive");
  });

  test("cluster off: no cluster line", async () => {
    const r = await rotaStatus(off);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).not.toContain("cluster");
  });
});

describe("rota renew on a follower", () => {
  test("the route answers 409 with the not_leader body", async () => {
    renewReply = { status: "not_leader", leader: "nas-1", term: 7 };
    const res = await fetch("http://rota/api/certs/www/renew", { method: "POST", unix: on.socket });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ status: "not_leader", leader: "nas-1", term: 7 });
  });

  test("exit 1 naming this node and the leader; or that no node leads", async () => {
    port.report = clusterReport();
    renewReply = { status: "not_leader", leader: "nas-1", term: 7 };
    expect(await on.run(renew, ["www"])).toEqual({ code: EXIT.failed, stdout: "", stderr: "rota: nas-2 is a follower; renewals run on the leader nas-1 (term 7): run rota renew there" });
    renewReply = { status: "not_leader", leader: null, term: null };
    expect(await on.run(renew, ["www"])).toEqual({ code: EXIT.failed, stdout: "", stderr: "rota: no node leads right now; try again in a few seconds" });
  });
});
