/** @module The debug line each request leaves. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import axios, { type AxiosInstance } from "axios";
import { systemClock } from "../../../clock.ts";
import { createLogger, scoped } from "../../../log.ts";
import { installTransport, withScope } from "./transport.ts";

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
