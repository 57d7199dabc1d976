/**
 * @module parseRetryAfter: both forms RFC 9110 §10.2.3 allows (delay-seconds, HTTP-date),
 * and what it does with anything else; the debug line each request leaves.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import axios, { type AxiosInstance } from "axios";
import { systemClock } from "../../../clock.ts";
import { createLogger, scoped } from "../../../log.ts";
import { installTransport, parseRetryAfter, withScope } from "./transport.ts";

const now = new Date("2030-01-01T00:00:00Z");

describe("parseRetryAfter", () => {
  test.each([
    ["120", 120],
    [" 120 ", 120],
    ["0", 0],
    ["86400", 86_400],
  ])("delay-seconds %p is %p s", (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });

  test.each([
    ["Tue, 01 Jan 2030 00:02:00 GMT", 120],
    // The obsolete RFC 850 and asctime forms a recipient must still accept.
    ["Tuesday, 01-Jan-30 00:02:00 GMT", 120],
    ["Tue Jan  1 00:02:00 2030", 120],
  ])("HTTP-date %p is %p s from now", (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });

  test("a date in the past means now, never a negative wait", () => {
    expect(parseRetryAfter("Mon, 31 Dec 2029 23:00:00 GMT", now)).toBe(0);
  });

  test("a date part-way through a second rounds up", () => {
    expect(parseRetryAfter(new Date(now.getTime() + 1_500).toUTCString(), new Date(now.getTime() + 500))).toBe(1);
    expect(parseRetryAfter("Tue, 01 Jan 2030 00:00:02 GMT", new Date(now.getTime() + 1))).toBe(2);
  });

  test.each(["soon", "", "   ", "10 seconds", "1e3", "12abc"])("garbage %p is no hint", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });

  test("a header that is not a string is no hint", () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter(120, now)).toBeUndefined();
    expect(parseRetryAfter(["120"], now)).toBeUndefined();
  });

  // Date.parse reads "-5", "1.5" and "4 5" as dates in the past: they must be no hint, not a wait of 0.
  test.each(["-5", "1.5", "4 5"])("number-like garbage %p is no hint", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe("each request is one debug line", () => {
  const canary = "s3cr3t-payload-canary";
  let server: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => new Response(JSON.stringify({ echo: canary }), { status: new URL(req.url).pathname === "/missing" ? 404 : 201, headers: { "replay-nonce": canary } }),
    });
  });
  afterAll(() => server.stop(true));

  async function requestLines(fn: (http: AxiosInstance) => Promise<unknown>): Promise<string[]> {
    const lines: string[] = [];
    const log = createLogger({ level: "debug", tty: false, write: (l) => lines.push(l) });
    const http = axios.create();
    installTransport(http as unknown as Parameters<typeof installTransport>[0]);
    const scope = { who: "acme test", clock: systemClock, signal: new AbortController().signal, httpsAgent: undefined, log: scoped(log, { component: "acme" }) };
    await withScope(scope, () => fn(http)).catch(() => undefined);
    return lines.map((l) => l.replace(/^\S+ /, "").replace(/in \d+ ms/, "in N ms"));
  }

  test("method, URL, status and time; never the body or the headers", async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const lines = await requestLines(async (http) => {
      await http.post(`${base}/new-order`, { csr: canary }, { headers: { "content-type": "application/jose+json", "x-canary": canary } });
      await http.get(`${base}/missing`);
    });
    expect(lines).toEqual([`debug acme acme test: POST ${base}/new-order 201 in N ms\n`, `debug acme acme test: GET ${base}/missing 404 in N ms\n`]);
    expect(lines.join("")).not.toContain(canary);
  });

  test("a request that gets no reply says why, once per attempt", async () => {
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const url = `http://127.0.0.1:${closed.port}/directory`;
    await closed.stop(true);
    const lines = await requestLines((http) => http.get(url));
    expect(lines).toEqual(Array(3).fill(`debug acme acme test: GET ${url} failed (ECONNREFUSED) in N ms\n`));
  });
});
