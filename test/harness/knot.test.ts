/**
 * @module The knotd harness: it answers for its zone with the NS glue it was given, TXT
 * values come and go through knotc, and dnstap reports each query with its RD bit.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { query } from "../../src/dns/query.ts";
import { freeDnsAddress, makeTempDir, removeTempDir, startKnot, waitFor, type Knot } from "./index.ts";

let dir: string;
let knot: Knot;
let other: string;

beforeAll(async () => {
  dir = makeTempDir("rota-knot-");
  const address = await freeDnsAddress();
  other = await freeDnsAddress();
  knot = await startKnot({
    dir,
    address,
    zone: "auth.test",
    nameServers: [
      { name: "ns1.auth.test", address },
      { name: "ns2.auth.test", address: other },
    ],
  });
}, 30_000);

afterAll(async () => {
  await knot?.stop();
  if (dir) removeTempDir(dir);
});

test("answers NS for its zone with both glue addresses, authoritatively", async () => {
  const reply = await query({ host: knot.address, port: 53 }, "auth.test", "NS", { recursive: false, timeoutMs: 2000 });
  expect(reply.authoritative).toBe(true);
  expect(reply.answers.flatMap((a) => (a.type === "NS" ? [a.data] : [])).sort()).toEqual(["ns1.auth.test", "ns2.auth.test"]);
  const glue = await query({ host: knot.address, port: 53 }, "ns2.auth.test", "A", { recursive: false, timeoutMs: 2000 });
  expect(glue.answers.flatMap((a) => (a.type === "A" ? [a.data] : []))).toEqual([other]);
});

test("TXT values are added one by one and cleared together; clearing nothing is fine", async () => {
  const name = "_acme-challenge.www.auth.test";
  await knot.clearTxt(name);
  await knot.setTxt(name, "value-a");
  await knot.setTxt(name, 'with "quotes" \\ and spaces');
  expect((await knot.txt(name)).sort()).toEqual(["value-a", 'with "quotes" \\ and spaces']);
  await knot.clearTxt(name);
  expect(await knot.txt(name)).toEqual([]);
  await knot.clearTxt(name);
});

test("dnstap reports each query with its RD bit", async () => {
  await query({ host: knot.address, port: 53 }, "rd.auth.test", "TXT", { recursive: true, timeoutMs: 2000 });
  await query({ host: knot.address, port: 53 }, "nord.auth.test", "TXT", { recursive: false, timeoutMs: 2000 });
  await waitFor(() => knot.queries.some((q) => q.name === "nord.auth.test"), 10_000, 50, "the second query in dnstap");
  expect(knot.queries.filter((q) => q.name.endsWith("rd.auth.test"))).toEqual([
    { name: "rd.auth.test", type: "TXT", recursive: true },
    { name: "nord.auth.test", type: "TXT", recursive: false },
  ]);
});
