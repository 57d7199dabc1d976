/**
 * @module The swap lock against a scripted HAProxy with ONE certificate transaction behind
 * two runtime API sockets (a unix path and a TCP port), as a real process has: its `set`
 * replies wait a little, so two swaps that do not take turns are certain to meet inside
 * one transaction. The lock is named after the process `show info` names, so swaps take
 * turns whichever socket or target they come through. (haproxy.test.ts runs the same
 * swaps against a real HAProxy, where the overlap is only likely.)
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { describeError } from "../../../errors.ts";
import type { InstallRequest } from "../../types.ts";
import { makeInstallFixtures } from "../contract.ts";
import { payloadOf, type Endpoint } from "./client.ts";
import { createHaproxyInstall } from "./haproxy.ts";

/** How long the fake takes to answer `set ssl cert`: room for another connection's commands. */
const SET_DELAY_MS = 30;

let dir: string;
let unix: Endpoint;
let tcp: Endpoint;
const servers: Server[] = [];
let a: InstallRequest;
let b: InstallRequest;

/** The one process's state, whichever socket a command came through. */
let transaction: { path: string; pem: string } | null;
let served: Map<string, string>;
/** `set`, `commit` and `abort` as the process saw them, in order: `<verb> <cert file>`. */
let seen: string[];
/** `show info`'s Pid line; null leaves it out. */
let pid: number | null;

function answer(command: string): string {
  const [line, payload = ""] = command.split(" <<\n");
  const [verb, , , path = ""] = line!.trim().split(" ");
  const file = path.split("/").pop();
  if (line!.trim() === "show info") return `Name: HAProxy\nVersion: 2.6.12\n${pid === null ? "" : `Pid: ${pid}\n`}Node: fake\n\n`;
  seen.push(`${verb} ${file}`);
  const other = transaction !== null && transaction.path !== path ? `The ongoing transaction is about '${transaction.path}' but you are trying to ${verb} '${path}'\n\n` : null;
  if (verb === "set") {
    if (other) return other;
    transaction = { path, pem: payload.trim() };
    return `Transaction created for certificate ${path}!\n\n`;
  }
  if (!transaction) return verb === "abort" ? "No ongoing transaction!\n\n" : `No ongoing transaction! !\nCan't ${verb} ${path}!\n\n`;
  if (other) return other;
  if (verb === "commit") served.set(path, transaction.pem);
  transaction = null;
  return verb === "commit" ? `Committing ${path}.\nSuccess!\n\n` : `Transaction aborted for certificate '${path}'!\n\n`;
}

function listen(): Server {
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    let text = "";
    conn.on("data", (d) => {
      text += d.toString();
      const complete = text.includes("<<\n") ? text.endsWith("\n\n") : text.endsWith("\n");
      if (!complete) return;
      // HAProxy acts when the command arrives; only the reply to `set` is slow here.
      const reply = answer(text);
      if (text.startsWith("set ")) setTimeout(() => conn.end(reply), SET_DELAY_MS);
      else conn.end(reply);
    });
    conn.on("error", () => {});
  });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-haproxy-lock-"));
  unix = { kind: "unix", path: join(dir, "admin.sock") };
  const onUnix = listen();
  await new Promise<void>((resolve) => onUnix.listen(join(dir, "admin.sock"), resolve));
  const onTcp = listen();
  await new Promise<void>((resolve) => onTcp.listen(0, "127.0.0.1", resolve));
  tcp = { kind: "tcp", host: "127.0.0.1", port: (onTcp.address() as AddressInfo).port };
  [a, b] = await Promise.all([makeInstallFixtures(join(dir, "ca-a"), "a"), makeInstallFixtures(join(dir, "ca-b"), "b")]).then(([x, y]) => [x.first, y.first]);
});

afterAll(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

let stateDir: string;
beforeEach(() => {
  transaction = null;
  served = new Map();
  seen = [];
  pid = 4242;
  stateDir = mkdtempSync(join(dir, "state-"));
});

const target = (name: string, sockets: Endpoint[]) => createHaproxyInstall(name, { dir: join(dir, "certs"), sockets }, { stateDir, clock: systemClock, withheldEnv: () => [] });
const signal = new AbortController().signal;
const bundlePayload = (r: InstallRequest) => payloadOf(r.leafPem + r.chainPem + r.privateKeyPem);
const outcomes = async (...installs: Promise<void>[]) => (await Promise.allSettled(installs)).map((o) => (o.status === "fulfilled" ? "ok" : describeError(o.reason)));

/** Each `set` followed by its own `commit`: no swap began inside another's. */
function expectTurns(): void {
  expect(seen.length % 2).toBe(0);
  for (let i = 0; i < seen.length; i += 2) expect([seen[i], seen[i + 1]]).toEqual([seen[i], seen[i]!.replace("set", "commit")]);
}

describe("haproxy swap lock: one per HAProxy process", () => {
  test("one target with two sockets into one process: two certs' swaps take turns, each path served its own certificate, one lock file", async () => {
    const lb = target("lb", [unix, tcp]);
    expect(await outcomes(lb.install(a, signal), lb.install(b, signal))).toEqual(["ok", "ok"]);
    expectTurns();
    expect(seen.filter((s) => s.startsWith("commit"))).toHaveLength(4);
    expect(served.get(join(dir, "certs", "a.pem"))).toBe(bundlePayload(a));
    expect(served.get(join(dir, "certs", "b.pem"))).toBe(bundlePayload(b));
    expect(readdirSync(join(stateDir, "haproxy"))).toHaveLength(1);
  });

  test("two targets reaching one process through different sockets take turns too", async () => {
    expect(await outcomes(target("lb", [unix]).install(a, signal), target("lb-tcp", [tcp]).install(b, signal))).toEqual(["ok", "ok"]);
    expectTurns();
    expect(served.get(join(dir, "certs", "a.pem"))).toBe(bundlePayload(a));
    expect(served.get(join(dir, "certs", "b.pem"))).toBe(bundlePayload(b));
  });

  test("show info naming no Pid: each socket is its own lock, as before", async () => {
    pid = null;
    await target("lb", [unix, tcp]).install(a, signal);
    expect(readdirSync(join(stateDir, "haproxy"))).toHaveLength(2);
  });
});
