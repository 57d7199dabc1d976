/** @module The ACME CA's doctor check: one directory GET (no account, no order), its failures named with a hint. */
import { afterAll, expect, test } from "bun:test";
import { freePort } from "../../../../test/harness/ports.ts";
import type { CheckContext } from "../../types.ts";
import { checkAcme } from "./check.ts";
import type { AcmeConfig } from "./config.ts";

const paths: string[] = [];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    const path = new URL(req.url).pathname;
    paths.push(`${req.method} ${path}`);
    if (path === "/dir") return Response.json({ newNonce: "n", newAccount: "a", newOrder: "o", meta: { profiles: { classic: "", shortlived: "" } } });
    return new Response("not here", { status: 404 });
  },
});
afterAll(() => server.stop(true));

const ctx: CheckContext = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
const signal = new AbortController().signal;
const cfg = (directoryUrl: string): AcmeConfig => ({ directoryUrl, email: undefined, caBundle: undefined, eab: undefined });
const base = `http://127.0.0.1:${server.port}`;

test("the directory answers: ok with its profiles, and only the directory was fetched", async () => {
  paths.length = 0;
  expect(await checkAcme(cfg(`${base}/dir`), signal, ctx)).toEqual([{ status: "ok", message: `directory ${base}/dir answers; profiles: classic, shortlived` }]);
  expect(paths).toEqual(["GET /dir"]);
});

test("not a directory, or unreachable: FAIL with a hint", async () => {
  expect(await checkAcme(cfg(`${base}/nope`), signal, ctx)).toEqual([
    { status: "fail", message: `directory ${base}/nope answered HTTP 404, not an ACME directory`, hint: "check directory_url and this machine's network; a private CA needs ca_bundle" },
  ]);
  const port = await freePort();
  const [down] = await checkAcme(cfg(`http://127.0.0.1:${port}/dir`), signal, ctx);
  expect(down!.status).toBe("fail");
  expect(down!.message).toStartWith(`directory http://127.0.0.1:${port}/dir unreachable: `);
});

test("offline: skipped; an unreadable EAB key still fails", async () => {
  paths.length = 0;
  const eab = { ...cfg(`${base}/dir`), eab: { kid: "k", hmacKey: { from: "file" as const, path: "/nonexistent/hmac" } } };
  expect(await checkAcme(eab, signal, { ...ctx, offline: true })).toEqual([
    { status: "fail", message: "cannot read the EAB HMAC key (ENOENT)" },
    { status: "skip", message: `offline: directory ${base}/dir not fetched` },
  ]);
  expect(paths).toEqual([]);
});
