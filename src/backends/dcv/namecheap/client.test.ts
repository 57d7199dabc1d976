/** @module The raw DNS client against a stand-in endpoint: what it does with a redirect, the one reply that would carry the API key elsewhere. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { describeError, RotaError } from "../../../errors.ts";
import { createNamecheapClient } from "./client.ts";

let elsewhere: ReturnType<typeof Bun.serve>;
let api: ReturnType<typeof Bun.serve>;
const reached: string[] = [];

beforeAll(() => {
  elsewhere = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      reached.push(await req.text());
      return new Response("<ApiResponse Status=\"OK\"><Errors/><CommandResponse/></ApiResponse>");
    },
  });
  // A 308 keeps the method and the body: followed, the form with ApiKey would go to the Location.
  api = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(null, { status: 308, headers: { location: `http://127.0.0.1:${elsewhere.port}/xml.response` } }) });
});
afterAll(() => {
  api.stop(true);
  elsewhere.stop(true);
});

test("a redirect is not followed: the API key stays with the configured endpoint, and the error names the redirect", async () => {
  const client = createNamecheapClient({ apiUrl: `http://127.0.0.1:${api.port}/xml.response`, apiUser: "alice", username: "alice", apiKey: "nc-dns-redirect-canary", clientIp: "203.0.113.7" }, "namecheap ncdns");
  const err = await client.getHosts("example", "com", new AbortController().signal).then(
    () => undefined,
    (e: unknown) => e as RotaError,
  );
  expect(reached).toEqual([]);
  expect(err).toBeInstanceOf(RotaError);
  expect(describeError(err)).toBe(`namecheap ncdns: namecheap.domains.dns.getHosts: HTTP 308 Permanent Redirect to http://127.0.0.1:${elsewhere.port}/xml.response (not followed: the request carries the API key; set api_url to the endpoint itself)`);
});
