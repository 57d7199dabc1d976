/** @module The debug line each request leaves, and the ACME problems it surfaces. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import axios, { type AxiosInstance } from "axios";
import { systemClock } from "../../../clock.ts";
import { createLogger, scoped } from "../../../log.ts";
import { RotaError } from "../../../errors.ts";
import { AcmeProblem, installTransport, withScope } from "./transport.ts";

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

describe("an ACME problem", () => {
  let server: ReturnType<typeof Bun.serve>;
  let hits = 0;
  beforeAll(() => {
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        hits++;
        const type = new URL(req.url).pathname.slice(1);
        const status = type === "serverInternal" ? 500 : type === "conflict" ? 409 : 400;
        return Response.json({ type: `urn:ietf:params:acme:error:${type === "conflict" ? "malformed" : type}`, detail: `because ${type}` }, { status, headers: { "content-type": "application/problem+json" } });
      },
    });
  });
  afterAll(() => server.stop(true));

  async function failure(path: string): Promise<unknown> {
    const http = axios.create();
    installTransport(http as unknown as Parameters<typeof installTransport>[0]);
    const log = createLogger({ level: "error", tty: false, write: () => {} });
    const scope = { who: "acme test", clock: systemClock, signal: new AbortController().signal, httpsAgent: undefined, log };
    return withScope(scope, () => http.post(`http://127.0.0.1:${server.port}/${path}`, {})).then(
      () => new Error("no failure"),
      (err: unknown) => err,
    );
  }

  test("keeps its type and status, and is thrown at the first reply (never resent)", async () => {
    hits = 0;
    const err = await failure("serverInternal");
    expect(err).toBeInstanceOf(AcmeProblem);
    const p = err as AcmeProblem;
    expect([p.acmeType, p.status, p.message, p.detail]).toEqual(["serverInternal", 500, "acme test: because serverInternal (HTTP 500 serverInternal)", "because serverInternal (HTTP 500 serverInternal)"]);
    expect(hits).toBe(1);
    expect(((await failure("conflict")) as AcmeProblem).status).toBe(409);
    expect(((await failure("alreadyReplaced")) as AcmeProblem).acmeType).toBe("alreadyReplaced");
  });

  test("badNonce stays acme-client's to retry with a fresh nonce", async () => {
    const err = await failure("badNonce");
    expect(err).not.toBeInstanceOf(RotaError);
    expect((err as { response?: { status: number } }).response?.status).toBe(400);
  });
});
