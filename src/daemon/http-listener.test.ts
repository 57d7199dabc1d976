/**
 * @module The TCP listener in-process: a new certificate (same address) is served at once
 * even while a long request holds the old listener, a port in use is an error naming
 * http.listen that leaves the old listener serving, and a logout outlives a reload.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { createConsola } from "consola";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { systemClock } from "../clock.ts";
import type { HttpConfig } from "../config/schema.ts";
import type { TcpEnv } from "../api/tcp.tsx";
import { EventBus } from "../events.ts";
import { HttpListener, HttpSetupError } from "./http-listener.ts";

const TOKEN = "listener-test-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "rota-listener-"));
let port: number;

/** A self-signed certificate for 127.0.0.1 in `<dir>/<name>.{crt,key}`. */
function selfSigned(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const p = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1"], { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(p.stderr.toString());
  return { cert, key };
}

function config(tls: { cert: string; key: string }, listenPort = port, sessionHours = 12): HttpConfig {
  return {
    listener: { listen: { host: "127.0.0.1", port: listenPort, ipv6: false }, token: { from: "env", name: "ROTA_LISTENER_TEST_TOKEN" }, tls: { from: "files", ...tls }, allowPlainHttp: false, sessionHours },
    publicUrl: undefined,
  };
}

/** The subject CN of the certificate served now. */
function servedName(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      resolve(String(s.getPeerCertificate().subject.CN));
      s.end();
    });
    s.on("error", reject);
  });
}

const api = new Hono();
// An event stream that never ends, like a dashboard left open.
api.get("/api/forever", (c) => streamSSE(c, async (stream) => {
  await stream.writeSSE({ data: "hello" });
  await new Promise<void>((resolve) => stream.onAbort(resolve));
}));
// A page that shows the session's CSRF token, as the dashboard's do.
const pages = new Hono<TcpEnv>().get("/", (c) => c.text(c.get("session")?.csrf ?? ""));
const listener = new HttpListener({ api, pages, assets: new Hono(), websocket: undefined, stateDir: dir, bus: new EventBus(() => {}), clock: systemClock, log: createConsola({ level: -999 }) });

beforeAll(async () => {
  process.env.ROTA_LISTENER_TEST_TOKEN = TOKEN;
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  port = probe.port!;
  await probe.stop(true);
  await listener.apply(config(selfSigned("first")));
});

afterAll(async () => {
  await listener.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a new certificate is served at once, while a stream still holds the old listener", async () => {
  expect(await servedName()).toBe("first");
  const held = await fetch(`https://127.0.0.1:${port}/api/forever`, { headers: { Authorization: `Bearer ${TOKEN}` }, tls: { rejectUnauthorized: false } });
  const reader = held.body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("hello");
  await listener.apply(config(selfSigned("second")));
  expect(await servedName()).toBe("second");
  await reader.cancel();
});

test("a port in use names http.listen, and the listener it was to replace keeps serving", async () => {
  const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  try {
    const err = await listener.apply(config(selfSigned("third"), busy.port!)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpSetupError);
    expect((err as HttpSetupError).message).toBe(`http.listen: 127.0.0.1:${busy.port}: the address is already in use`);
    expect(await servedName()).toBe("second");
  } finally {
    await busy.stop(true);
  }
});

test("a key that is not the certificate's, or a file that is no PEM, is refused before any bind; the listener keeps serving", async () => {
  const a = selfSigned("fourth");
  const b = selfSigned("fifth");
  const junk = join(dir, "junk.pem");
  writeFileSync(junk, "not a certificate\n");
  const refused = async (tls: { cert: string; key: string }) => ((await listener.apply(config(tls)).catch((e: unknown) => e)) as HttpSetupError).message;
  expect(await refused({ cert: a.cert, key: b.key })).toBe(`http.tls_key: ${b.key} is not the private key of the certificate in ${a.cert} (KEY_VALUES_MISMATCH)`);
  expect(await refused({ cert: junk, key: a.key })).toBe(`http.tls_cert: ${junk}: no certificate can be loaded from it (NO_START_LINE)`);
  expect(await refused({ cert: a.cert, key: junk })).toBe(`http.tls_key: ${junk}: no private key can be loaded from it (NO_START_LINE)`);
  expect(await refused({ cert: a.cert, key: join(dir, "absent.key") })).toStartWith("http.tls_key: cannot read");
  expect(await servedName()).toBe("second");
});

test("apply says whether what is served changed: a token changed in place, certificate files rewritten in place", async () => {
  const files = selfSigned("sixth");
  expect(await listener.apply(config(files))).toBe(true);
  expect(await listener.apply(config(files))).toBe(false);
  process.env.ROTA_LISTENER_TEST_TOKEN = `${TOKEN}-rotated`;
  expect(await listener.apply(config(files))).toBe(true);
  expect(await listener.apply(config(files))).toBe(false);
  // openssl writes the same paths anew: the section reads the same, the listener serves another certificate.
  selfSigned("sixth");
  expect(await listener.apply(config(files))).toBe(true);
  expect(await servedName()).toBe("sixth");
  process.env.ROTA_LISTENER_TEST_TOKEN = TOKEN;
});

test("a logout holds across a reload that changes [http] (session_hours), and the sessions not logged out stay", async () => {
  const serving = await listener.apply(config(selfSigned("sessions"))).then(() => `https://127.0.0.1:${port}`);
  const call = (path: string, init: RequestInit = {}) => fetch(`${serving}${path}`, { ...init, redirect: "manual", tls: { rejectUnauthorized: false } });
  const login = async () => {
    const res = await call("/login", { method: "POST", body: new URLSearchParams({ token: TOKEN }) });
    const cookie = (res.headers.get("Set-Cookie") ?? "").split(";")[0]!;
    return { cookie, csrf: await (await call("/", { headers: { Cookie: cookie } })).text() };
  };
  const out = await login();
  const kept = await login();
  expect((await call("/logout", { method: "POST", headers: { Cookie: out.cookie, "X-CSRF-Token": out.csrf } })).status).toBe(303);
  expect((await call("/", { headers: { Cookie: out.cookie } })).status).toBe(303);

  await listener.apply(config(selfSigned("sessions"), port, 2));
  expect((await call("/", { headers: { Cookie: out.cookie } })).status).toBe(303);
  expect((await call("/", { headers: { Cookie: kept.cookie } })).status).toBe(200);
});
