/**
 * @module DNS lookups against in-test servers on loopback: the authoritative path (NS of the
 * closest zone through the bootstrap resolver, then each server asked without RD) with one of
 * two servers lagging, the resolvers path, every TXT string read, TCP after truncation, CNAMEs.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TestDnsServer, type TestRecord } from "../testing/dns-server.ts";
import { authoritativeServers, cnameTarget, systemResolver } from "./lookup.ts";
import { query, txtValues } from "./query.ts";
import { parseServer } from "./server.ts";
import { visibilityCheck } from "./visibility.ts";
import { propagationPolicy } from "../testing/propagation.ts";

const ZONE = "example.test";
const NAME = "_acme-challenge.www.example.test";
const signal = new AbortController().signal;

const delegation: TestRecord[] = [
  { name: ZONE, type: "NS", data: "ns1.example.test" },
  { name: ZONE, type: "NS", data: "ns2.example.test" },
  { name: "ns1.example.test", type: "A", data: "127.0.0.1" },
  { name: "ns2.example.test", type: "A", data: "127.0.0.2" },
];

let bootstrap: TestDnsServer;
let ns1: TestDnsServer;
let ns2: TestDnsServer;

beforeEach(async () => {
  // A resolver passes on the zone's SOA with a negative answer, as this one does.
  bootstrap = await new TestDnsServer("127.0.0.1", ZONE, [...delegation, { name: "_acme-challenge.alias.example.test", type: "CNAME", data: "_acme-challenge.www.example.test" }]).start();
  ns1 = await new TestDnsServer("127.0.0.1", ZONE, [...delegation, { name: NAME, type: "TXT", data: "value-a" }]).start();
  // The second authoritative server listens at the same port on another loopback address, as NS records carry no port.
  ns2 = await new TestDnsServer("127.0.0.2", ZONE, [...delegation]).start(ns1.port);
});

afterEach(async () => {
  await Promise.all([bootstrap.stop(), ns1.stop(), ns2.stop()]);
});

describe("query", () => {
  test("reads every string of a TXT record and the AA flag", async () => {
    ns1.records.push({ name: "long.example.test", type: "TXT", data: ["part one ", "part two"] });
    const reply = await query(parseServer(ns1.address)!, "long.example.test", "TXT", { recursive: false, timeoutMs: 2000 });
    expect(reply.authoritative).toBe(true);
    expect(txtValues(reply, "long.example.test")).toEqual(["part one part two"]);
    expect(ns1.asked.at(-1)).toEqual({ name: "long.example.test", type: "TXT", recursive: false, over: "udp" });
  });

  test("asks again over TCP when the UDP reply is truncated", async () => {
    ns1.truncateUdp = true;
    const reply = await query(parseServer(ns1.address)!, NAME, "TXT", { recursive: false, timeoutMs: 2000 });
    expect(txtValues(reply, NAME)).toEqual(["value-a"]);
    expect(ns1.asked.map((a) => a.over)).toEqual(["udp", "tcp"]);
  });

  test("a server that does not answer times out with its name", async () => {
    ns2.silent = true;
    await expect(query(parseServer(ns2.address)!, NAME, "TXT", { recursive: false, timeoutMs: 200 })).rejects.toThrow(`dns: TXT ${NAME} at 127.0.0.2:${ns1.port}: no answer within 200 ms`);
  });

  test("parseServer takes host, host:port and [v6]:port", () => {
    expect(parseServer("1.1.1.1")).toEqual({ host: "1.1.1.1", port: 53 });
    expect(parseServer("127.0.0.1:5353")).toEqual({ host: "127.0.0.1", port: 5353 });
    expect(parseServer("[::1]:53")).toEqual({ host: "::1", port: 53 });
    expect(parseServer("1.1.1.1:0")).toBeNull();
    expect(parseServer("a b")).toBeNull();
  });
});

describe("lookups through the bootstrap resolver", () => {
  test("the zone's NS with their addresses, from the SOA of a negative answer", async () => {
    const auth = await authoritativeServers(NAME, parseServer(bootstrap.address)!, signal, 5353);
    expect(auth.zone).toBe(ZONE);
    expect(auth.servers).toEqual([
      { name: "ns1.example.test", server: { host: "127.0.0.1", port: 5353 } },
      { name: "ns2.example.test", server: { host: "127.0.0.2", port: 5353 } },
    ]);
    expect(bootstrap.asked.filter((a) => a.type === "NS").map((a) => a.name)).toEqual([NAME, ZONE]);
  });

  test("a CNAME's target, or null when there is none or no answer within 2 s", async () => {
    const b = parseServer(bootstrap.address)!;
    expect(await cnameTarget("_acme-challenge.alias.example.test", b, signal)).toBe(NAME);
    expect(await cnameTarget(NAME, b, signal)).toBeNull();
    bootstrap.silent = true;
    expect(await cnameTarget("_acme-challenge.alias.example.test", b, signal)).toBeNull();
  });

  test("the system resolver is resolv.conf's first nameserver", () => {
    const dir = mkdtempSync(join(tmpdir(), "rota-resolv-"));
    writeFileSync(join(dir, "resolv.conf"), "# comment\nsearch lan\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n");
    expect(systemResolver(join(dir, "resolv.conf"))).toEqual({ host: "192.0.2.53", port: 53 });
    expect(systemResolver(join(dir, "missing"))).toEqual({ host: "127.0.0.1", port: 53 });
  });
});

describe("visibilityCheck", () => {
  test("authoritative: every server is asked without RD; the lagging one is named until it catches up", async () => {
    const check = visibilityCheck(propagationPolicy({ bootstrapResolver: bootstrap.address }), ns1.port);
    const first = await check([{ name: NAME, value: "value-a" }], signal);
    expect(first.missing).toEqual([`${NAME} at ns2.example.test (127.0.0.2:${ns1.port})`]);
    expect(first.answers).toEqual([`ns1.example.test (127.0.0.1:${ns1.port}) for ${NAME}: "value-a"`, `ns2.example.test (127.0.0.2:${ns1.port}) for ${NAME}: no TXT`]);
    expect([...ns1.asked, ...ns2.asked].every((a) => !a.recursive)).toBe(true);
    expect(bootstrap.asked.every((a) => a.recursive)).toBe(true);

    ns2.records.push({ name: NAME, type: "TXT", data: "value-a" });
    expect((await check([{ name: NAME, value: "value-a" }], signal)).missing).toEqual([]);
  });

  test("two values at one name must both be visible", async () => {
    ns2.records.push({ name: NAME, type: "TXT", data: "value-a" });
    const check = visibilityCheck(propagationPolicy({ bootstrapResolver: bootstrap.address }), ns1.port);
    const records = [
      { name: NAME, value: "value-a" },
      { name: NAME, value: "value-b" },
    ];
    expect((await check(records, signal)).missing).toHaveLength(2);
    ns1.records.push({ name: NAME, type: "TXT", data: "value-b" });
    ns2.records.push({ name: NAME, type: "TXT", data: "value-b" });
    expect((await check(records, signal)).missing).toEqual([]);
  });

  test("a bootstrap resolver that does not answer: the look misses, naming why, rather than failing", async () => {
    bootstrap.silent = true;
    const seen = await visibilityCheck(propagationPolicy({ bootstrapResolver: bootstrap.address }), ns1.port)([{ name: NAME, value: "value-a" }], signal);
    expect(seen).toEqual({ missing: [`${NAME} (its servers not found)`], answers: [`no servers for ${NAME}: dns: NS ${NAME} at ${bootstrap.address}: no answer within 3000 ms`] });
  });

  test("a CNAME is asked for by type and its target compared without case or trailing dot", async () => {
    const check = visibilityCheck(propagationPolicy({ resolvers: [ns1.address] }));
    const records = [{ name: "_7f3a.example.test", value: "1A2B.C3D4.sectigo.com.", type: "CNAME" as const }];
    expect((await check(records, signal)).missing).toEqual([`_7f3a.example.test at ${ns1.address}`]);
    ns1.records.push({ name: "_7f3a.example.test", type: "CNAME", data: "1a2b.c3d4.sectigo.com" });
    expect(await check(records, signal)).toEqual({ missing: [], answers: [`${ns1.address} for _7f3a.example.test: "1a2b.c3d4.sectigo.com"`] });
    expect(ns1.asked.map((a) => a.type)).toEqual(["CNAME", "CNAME"]);
  });

  test("resolvers: exactly the configured servers, asked with RD", async () => {
    const check = visibilityCheck(propagationPolicy({ resolvers: [ns1.address] }));
    const seen = await check([{ name: NAME, value: "value-a" }], signal);
    expect(seen).toEqual({ missing: [], answers: [`${ns1.address} for ${NAME}: "value-a"`] });
    expect(ns1.asked).toEqual([{ name: NAME, type: "TXT", recursive: true, over: "udp" }]);
    expect(bootstrap.asked).toEqual([]);
    expect(ns2.asked).toEqual([]);
  });
});
