/**
 * @module WebhookAlert against a loopback receiver: what goes on the wire (method, headers,
 * body, signature) for each format, how each reply is classified for the daemon's retries,
 * timeouts and cancellation on the injected clock, a private CA, and no secret in any error.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeLoopbackTls } from "../../../../test/harness/certs.ts";
import { Problems, Reader } from "../../../config/reader.ts";
import { describeError, RotaError } from "../../../errors.ts";
import { createLogger } from "../../../log.ts";
import { FakeClock, settle } from "../../../testing/fake-clock.ts";
import type { BackendContext } from "../../context.ts";
import { ALERT_TYPES } from "../../registry.ts";
import type { Alert } from "../../types.ts";
import type { WebhookConfig } from "./config.ts";
import { failedAlert, testAlert } from "./fixtures.ts";
import { render } from "./formats.ts";
import { verifySignature } from "./sign.ts";
import { createWebhookAlert } from "./webhook.ts";

const SECRET = "whsec-canary-7f3a9c";
const TOKEN = "tok-canary-b81d22";
const PATH_SECRET = "T0123/B0456/path-canary-xyz";
const TOKEN_ENV = "ROTA_WEBHOOK_TEST_TOKEN";

interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

const dir = mkdtempSync(join(tmpdir(), "rota-webhook-"));
const secretFile = join(dir, "webhook.secret");
let received: Received[] = [];
/** Resolves the hanging requests the server holds, so it can stop. */
const held: (() => void)[] = [];
/** Called when a request to /hang arrives. */
let onHang: (() => void) | undefined;
let flaky = 0;
let server: ReturnType<typeof Bun.serve>;
let tlsServer: ReturnType<typeof Bun.serve>;
let caPath: string;
let base: string;

async function receive(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const body = await req.text();
  received.push({ method: req.method, path: url.pathname, headers: Object.fromEntries(req.headers), body });
  switch (url.pathname) {
    case "/500":
      return new Response("upstream   broken\n", { status: 500 });
    case "/flaky":
      return new Response(flaky++ === 0 ? "try again" : "ok", { status: flaky === 1 ? 503 : 200 });
    case "/429":
      return new Response("slow down", { status: 429, headers: { "Retry-After": "120" } });
    case "/429-date":
      return new Response("", { status: 429, headers: { "Retry-After": "Tue, 01 Jan 2030 00:05:00 GMT" } });
    case "/404":
      return new Response("no_such_hook", { status: 404 });
    case "/302":
      return new Response(null, { status: 302, headers: { Location: "https://elsewhere.example/" } });
    case "/204":
      return new Response(null, { status: 204 });
    case "/hang":
      onHang?.();
      return new Promise((resolve) => held.push(() => resolve(new Response("late"))));
    case "/big":
      return new Response("x".repeat(1_000_000), { status: 400 });
    default:
      // A careless receiver that echoes the request it refuses: headers, path and body.
      if (url.pathname.includes("echo")) return new Response(`${url.pathname} ${JSON.stringify(Object.fromEntries(req.headers))} ${body}`, { status: 400 });
      return new Response("ok");
  }
}

beforeAll(() => {
  writeFileSync(secretFile, `${SECRET}\n`);
  process.env[TOKEN_ENV] = TOKEN;
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: receive });
  base = `http://127.0.0.1:${server.port}`;
  const tls = makeLoopbackTls(dir);
  caPath = tls.caPath;
  tlsServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: readFileSync(tls.certPath, "utf8"), key: readFileSync(tls.keyPath, "utf8") },
    fetch: receive,
  });
});

afterAll(() => {
  for (const release of held) release();
  server.stop(true);
  tlsServer.stop(true);
  delete process.env[TOKEN_ENV];
  rmSync(dir, { recursive: true, force: true });
});

function config(over: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    url: `${base}/hook`,
    method: "POST",
    timeoutSeconds: 10,
    headers: {},
    bearerToken: undefined,
    secret: undefined,
    caBundle: undefined,
    format: "json",
    ...over,
  };
}

function setup(over: Partial<WebhookConfig> = {}) {
  received = [];
  const clock = new FakeClock("2030-01-01T00:00:00Z");
  const ctx: BackendContext = { stateDir: dir, clock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] };
  return { sink: createWebhookAlert("hook", config(over), ctx), clock };
}

async function failure(p: Promise<void>): Promise<RotaError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RotaError);
    return err as RotaError;
  }
  throw new Error("send resolved");
}

function signal(): AbortSignal {
  return new AbortController().signal;
}

describe("the registry's webhook entry", () => {
  test("parses its section and builds a sink that delivers", async () => {
    const problems = new Problems();
    const entry = ALERT_TYPES.webhook!;
    const cfg = entry.parse(new Reader({ url: `${base}/hook`, format: "slack", secret_file: secretFile }, "alert[0]", { problems, baseDir: dir, env: {} }));
    expect(problems.list).toEqual([]);
    received = [];
    const sink = await entry.create("hook", cfg, { stateDir: dir, clock: new FakeClock(), log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] });
    expect(sink.name).toBe("hook");
    await sink.send(testAlert(), signal());
    expect(received.map((r) => [r.path, Object.keys(JSON.parse(r.body)), r.headers["x-rota-signature"] !== undefined])).toEqual([["/hook", ["text"], true]]);
  });
});

describe("what goes on the wire", () => {
  test("json: the envelope exactly, signed, with the delivery id, the event, the token and static headers", async () => {
    const { sink, clock } = setup({
      headers: { "X-Team": "ops" },
      secret: { from: "file", path: secretFile },
      bearerToken: { from: "env", name: TOKEN_ENV },
    });
    const alert = failedAlert();
    await sink.send(alert, signal());
    expect(received).toHaveLength(1);
    const [req] = received as [Received];
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/hook");
    expect(req.body).toBe(render(alert, "json").body);
    expect(JSON.parse(req.body)).toMatchObject({ version: 1, id: alert.id, type: "renewal.failed", severity: "critical" });
    expect(req.headers).toMatchObject({
      "content-type": "application/json",
      "x-rota-event": "renewal.failed",
      "x-rota-delivery": alert.id,
      authorization: `Bearer ${TOKEN}`,
      "x-team": "ops",
      "user-agent": "rota/dev",
    });
    expect(req.headers["x-rota-signature"]).toStartWith(`t=${Math.floor(clock.now().getTime() / 1000)},v1=`);
    expect(verifySignature(req.headers["x-rota-signature"]!, SECRET, req.body, clock.now())).toBe(true);
  });

  test("no secret, no token: neither header is sent; PUT when asked", async () => {
    const { sink } = setup({ method: "PUT" });
    await sink.send(testAlert(), signal());
    const [req] = received as [Received];
    expect(req.method).toBe("PUT");
    expect(req.headers["x-rota-signature"]).toBeUndefined();
    expect(req.headers.authorization).toBeUndefined();
    expect(req.headers["x-rota-event"]).toBe("alert.test");
  });

  test("a retry of the same alert carries the same delivery id, so the receiver can de-duplicate", async () => {
    flaky = 0;
    const { sink } = setup({ url: `${base}/flaky` });
    const alert = failedAlert();
    expect((await failure(sink.send(alert, signal()))).noRetry).toBe(false);
    await sink.send(alert, signal());
    expect(received.map((r) => r.headers["x-rota-delivery"])).toEqual([alert.id, alert.id]);
    expect(received[0]!.body).toBe(received[1]!.body);
  });

  test("slack: {\"text\": …} as JSON", async () => {
    const { sink } = setup({ format: "slack" });
    await sink.send(failedAlert(), signal());
    const [req] = received as [Received];
    expect(req.headers["content-type"]).toBe("application/json");
    expect(Object.keys(JSON.parse(req.body))).toEqual(["text"]);
    expect(JSON.parse(req.body).text).toStartWith("[CRITICAL] rota: renewal.failed for www\nRenewal of www failed");
  });

  test("discord: {\"content\": …} as JSON; a 204 reply is a delivery", async () => {
    const { sink } = setup({ format: "discord", url: `${base}/204` });
    await sink.send(failedAlert(), signal());
    const [req] = received as [Received];
    expect(req.headers["content-type"]).toBe("application/json");
    const sent = JSON.parse(req.body);
    expect(Object.keys(sent)).toEqual(["content", "allowed_mentions"]);
    expect(sent.content).toStartWith("[CRITICAL] rota: renewal.failed for www\n");
    expect(sent.allowed_mentions).toEqual({ parse: [] });
  });

  test("ntfy: a plain-text body with Title, Priority and Tags headers", async () => {
    const { sink } = setup({ format: "ntfy" });
    await sink.send(failedAlert(), signal());
    const [req] = received as [Received];
    expect(req.body).toStartWith("Renewal of www failed: acme le: connection refused\n");
    expect(req.headers).toMatchObject({
      "content-type": "text/plain; charset=utf-8",
      title: "rota: renewal.failed for www",
      priority: "5",
      tags: "rotating_light,rota,renewal.failed",
      click: "https://rota.example.com/certs/www",
    });
  });
});

describe("each reply classified for the daemon's retries", () => {
  test("500: retryable, with the status and the body's start", async () => {
    const { sink } = setup({ url: `${base}/500` });
    const err = await failure(sink.send(failedAlert(), signal()));
    expect(err.code).toBe("unavailable");
    expect(err.noRetry).toBe(false);
    expect(err.message).toBe(`webhook hook: ${base}: HTTP 500: upstream broken`);
  });

  test("429 with Retry-After in seconds: retryable after that long", async () => {
    const { sink } = setup({ url: `${base}/429` });
    const err = await failure(sink.send(failedAlert(), signal()));
    expect(err.code).toBe("rate_limited");
    expect(err.noRetry).toBe(false);
    expect(err.retryAfterSeconds).toBe(120);
  });

  test("429 with Retry-After as an HTTP date: the wait from the injected clock's now", async () => {
    const { sink } = setup({ url: `${base}/429-date` });
    expect((await failure(sink.send(failedAlert(), signal()))).retryAfterSeconds).toBe(300);
  });

  test("404: not retried (the receiver said no)", async () => {
    const { sink } = setup({ url: `${base}/404` });
    const err = await failure(sink.send(failedAlert(), signal()));
    expect(err.code).toBe("refused");
    expect(err.noRetry).toBe(true);
    expect(err.message).toBe(`webhook hook: ${base}: HTTP 404: no_such_hook`);
  });

  test("a redirect is not followed, and not retried", async () => {
    const { sink } = setup({ url: `${base}/302`, bearerToken: { from: "env", name: TOKEN_ENV } });
    const err = await failure(sink.send(failedAlert(), signal()));
    expect(err.noRetry).toBe(true);
    expect(err.message).toContain("HTTP 302");
    expect(received).toHaveLength(1);
  });

  test("a huge refusal is quoted in 200 characters", async () => {
    const { sink } = setup({ url: `${base}/big` });
    const err = await failure(sink.send(failedAlert(), signal()));
    expect(err.message).toBe(`webhook hook: ${base}: HTTP 400: ${"x".repeat(199)}…`);
  });

  test("connection refused: retryable", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const origin = `http://127.0.0.1:${closed.port}`;
    closed.stop(true);
    const { sink } = setup({ url: `${origin}/hook` });
    const err = await failure(sink.send(failedAlert(), signal()));
    expect(err.code).toBe("network");
    expect(err.noRetry).toBe(false);
    expect(err.message).toStartWith(`webhook hook: ${origin}: `);
  });
});

describe("time limits and cancellation", () => {
  test("a receiver that never answers fails at timeout_seconds on the injected clock, retryable", async () => {
    const { sink, clock } = setup({ url: `${base}/hang`, timeoutSeconds: 2 });
    const arrived = new Promise<void>((resolve) => (onHang = resolve));
    let settled = false;
    const sent = failure(sink.send(failedAlert(), signal())).finally(() => (settled = true));
    await arrived;
    await clock.advance(1_999);
    await settle();
    expect(settled).toBe(false);
    await clock.advance(1);
    const err = await sent;
    expect(err.code).toBe("timeout");
    expect(err.noRetry).toBe(false);
    expect(err.message).toBe(`webhook hook: ${base}: no reply within 2 s`);
  });

  test("the caller's abort ends a hanging request at once", async () => {
    const { sink } = setup({ url: `${base}/hang`, timeoutSeconds: 120 });
    const arrived = new Promise<void>((resolve) => (onHang = resolve));
    const ctl = new AbortController();
    const sent = failure(sink.send(failedAlert(), ctl.signal));
    await arrived;
    ctl.abort();
    const err = await sent;
    expect(err.code).toBe("aborted");
    expect(err.message).toBe("webhook hook: cancelled");
  });

  test("an already aborted signal sends nothing", async () => {
    const { sink } = setup();
    const ctl = new AbortController();
    ctl.abort();
    expect((await failure(sink.send(failedAlert(), ctl.signal))).code).toBe("aborted");
    expect(received).toHaveLength(0);
  });
});

describe("a receiver behind a private CA", () => {
  test("untrusted without ca_bundle: a TLS error, not retried", async () => {
    const { sink } = setup({ url: `https://127.0.0.1:${tlsServer.port}/hook` });
    const err = await failure(sink.send(failedAlert(), signal()));
    expect(err.code).toBe("network");
    expect(err.noRetry).toBe(true);
    expect(err.message).toMatch(/^webhook hook: https:\/\/127\.0\.0\.1:\d+: .*(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY))/);
    expect(received).toHaveLength(0);
  });

  test("delivered when ca_bundle trusts its CA", async () => {
    const { sink } = setup({ url: `https://localhost:${tlsServer.port}/hook`, caBundle: caPath });
    await sink.send(failedAlert(), signal());
    expect(received).toHaveLength(1);
  });
});

describe("no secret in any error (canary)", () => {
  const secrets = [SECRET, TOKEN, PATH_SECRET];
  const full = { secret: { from: "file", path: secretFile }, bearerToken: { from: "env", name: TOKEN_ENV } } as const;

  /** Everything a log line could show of the error: its message, its causes', and every property on the way. */
  function shown(err: RotaError): string {
    return `${err.message}\n${describeError(err)}\n${Bun.inspect(err)}`;
  }

  async function errorText(over: Partial<WebhookConfig>, alert: Alert = failedAlert()): Promise<string> {
    const { sink } = setup({ ...full, ...over });
    const err = await failure(sink.send(alert, signal()));
    return shown(err);
  }

  test("a receiver echoing the request back: token, signature key and the URL's path are redacted", async () => {
    const text = await errorText({ url: `${base}/echo/${PATH_SECRET}?key=${PATH_SECRET}` });
    expect(text).toContain("HTTP 400");
    expect(text).toContain("[redacted]");
    for (const s of secrets) expect(text).not.toContain(s);
  });

  test("connection refused and timeout name the origin only", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = closed.port;
    closed.stop(true);
    const refused = await errorText({ url: `http://127.0.0.1:${port}/${PATH_SECRET}` });
    for (const s of secrets) expect(refused).not.toContain(s);

    const { sink, clock } = setup({ ...full, url: `${base}/hang?${PATH_SECRET}`, timeoutSeconds: 1 });
    const arrived = new Promise<void>((resolve) => (onHang = resolve));
    const sent = failure(sink.send(failedAlert(), signal()));
    await arrived;
    await clock.advance(1_000);
    const timedOut = shown(await sent);
    for (const s of secrets) expect(timedOut).not.toContain(s);
  });

  test("an unreadable secret file names the file, not its content, and is not retried", async () => {
    const gone = join(dir, "gone.secret");
    const err = await failure(setup({ secret: { from: "file", path: gone } }).sink.send(failedAlert(), signal()));
    expect(err.noRetry).toBe(true);
    expect(err.message).toBe(`webhook hook: cannot read secret from ${gone}: ENOENT`);
    expect(received).toHaveLength(0);
  });
});
