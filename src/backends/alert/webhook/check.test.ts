/** @module The webhook's doctor check against a loopback receiver: one HEAD, any answer reachable, the URL's path never shown. */
import { afterAll, expect, test } from "bun:test";
import { freePort } from "../../../../test/harness/ports.ts";
import { systemClock } from "../../../clock.ts";
import { createLogger } from "../../../log.ts";
import type { CheckContext } from "../../types.ts";
import type { WebhookConfig } from "./config.ts";
import { createWebhookAlert } from "./webhook.ts";

const seen: { method: string; path: string; auth: string | null }[] = [];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    const url = new URL(req.url);
    seen.push({ method: req.method, path: url.pathname, auth: req.headers.get("authorization") });
    if (url.pathname.startsWith("/moved")) return new Response(null, { status: 302, headers: { location: "https://elsewhere.example/" } });
    return new Response(null, { status: req.method === "POST" ? 200 : 405 });
  },
});
afterAll(() => server.stop(true));

const ctx: CheckContext = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
const signal = new AbortController().signal;
const backendCtx = { stateDir: "/nonexistent", clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] };
const cfg = (url: string, over: Partial<WebhookConfig> = {}): WebhookConfig => ({ url, method: "POST", timeoutSeconds: 5, headers: {}, bearerToken: undefined, secret: undefined, caBundle: undefined, format: "json", ...over });
const origin = `http://127.0.0.1:${server.port}`;

test("a HEAD, answered 405: reachable; no alert sent, the path (a token) not shown", async () => {
  seen.length = 0;
  const results = await createWebhookAlert("hook", cfg(`${origin}/hooks/T0KEN-canary-77`), backendCtx).check(signal, ctx);
  expect(results).toEqual([{ status: "ok", message: `${origin} reachable (HTTP 405 to HEAD)` }]);
  expect(seen).toEqual([{ method: "HEAD", path: "/hooks/T0KEN-canary-77", auth: null }]);
});

test("a redirect is a warning: alerts never follow one", async () => {
  const [r] = await createWebhookAlert("hook", cfg(`${origin}/moved`), backendCtx).check(signal, ctx);
  expect(r).toEqual({ status: "warn", message: `${origin} answers HTTP 302, a redirect, which alerts do not follow`, hint: "set url to where it points" });
});

test("nothing listening, or an unreadable token: FAIL; offline: nothing sent", async () => {
  const port = await freePort();
  const [down] = await createWebhookAlert("hook", cfg(`http://127.0.0.1:${port}/hooks/T0KEN-canary-77`), backendCtx).check(signal, ctx);
  expect(down!.status).toBe("fail");
  expect(down!.message).toStartWith(`webhook hook: http://127.0.0.1:${port}:`);
  expect(JSON.stringify(down)).not.toContain("T0KEN-canary-77");
  const [token] = await createWebhookAlert("hook", cfg(`${origin}/x`, { bearerToken: { from: "file", path: "/nonexistent/token" } }), backendCtx).check(signal, ctx);
  expect(token).toEqual({ status: "fail", message: "webhook hook: cannot read bearer_token from /nonexistent/token: ENOENT" });
  seen.length = 0;
  expect(await createWebhookAlert("hook", cfg(`${origin}/x`), backendCtx).check(signal, { ...ctx, offline: true })).toEqual([{ status: "skip", message: `offline: ${origin} not contacted` }]);
  expect(seen).toEqual([]);
});
