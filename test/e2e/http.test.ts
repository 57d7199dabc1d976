/**
 * End to end: the API on TCP from the compiled binary — a TLS listener on a cert the
 * built-in local CA issues (`tls_cert_id`), Bearer tokens, a browser's login, CSRF, a
 * forced renewal served without a restart, a token changed by a reload, a canary
 * token that must appear in no log line and no reply, and (last: it restarts the daemon)
 * a logout that holds across reloads and restarts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { freePort, makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { list, localCaConfig, serialOf, waitForFile } from "./helpers.ts";

const CANARY = `canary-${crypto.randomUUID()}`;
let dir: string;
let socket: string;
let config: string;
let daemon: Daemon;
let port: number;
let root: string;
let origin: string;
const replies: string[] = [];

/** A fetch over the TLS listener, trusting only the local CA's root; every reply body is kept for the canary check. */
async function api(path: string, init: RequestInit & { token?: string; cookie?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
  if (init.cookie) headers.set("Cookie", init.cookie);
  const res = await fetch(`${origin}${path}`, { ...init, headers, redirect: "manual", tls: { ca: root } });
  const body = await res.clone().text();
  replies.push(body, [...res.headers].join("\n"));
  return res;
}

/** Opens `/api/events` with these credentials; resolves once open, with the promise of its close. */
async function openEvents(headers: Record<string, string>): Promise<{ closed: Promise<{ code: number; reason: string }> }> {
  // Bun's client takes headers and TLS options (the DOM type has neither).
  const ws = new WebSocket(`${origin.replace("https:", "wss:")}/api/events`, { headers, tls: { ca: root } } as unknown as string[]);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })));
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  return { closed };
}

/** The serial of the certificate the listener serves now (lowercase hex). */
function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, ca: root, servername: "app.home.arpa" }, () => {
      resolve(s.getPeerCertificate().serialNumber.toLowerCase());
      s.end();
    });
    s.on("error", reject);
  });
}

function writeRotaConfig(tokenFile: string, extraHttp = ""): void {
  writeFileSync(
    config,
    `${localCaConfig({ domains: ["app.home.arpa", "127.0.0.1"] })}
[http]
listen = "127.0.0.1:${port}"
token_file = "${tokenFile}"
tls_cert_id = "app"
${extraHttp}`,
  );
}

beforeAll(async () => {
  dir = makeTempDir("rota-http-");
  socket = join(dir, "rota.sock");
  config = join(dir, "rota.toml");
  port = await freePort();
  origin = `https://127.0.0.1:${port}`;
  writeFileSync(join(dir, "token"), `${CANARY}\n`, { mode: 0o600 });
  writeRotaConfig("token");
  daemon = startDaemon(config, { env: { ROTA_LOG_LEVEL: "debug" } });
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
  await daemon.waitForOutput(`http: listening on ${origin}`);
  root = (await runRota(["ca", "root", "--config", config])).stdout;
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

describe("the TLS listener on a cert rota manages", () => {
  test("serves the installed cert, verified with the local CA's root", async () => {
    expect(await servedSerial()).toBe(serialOf(join(dir, "certs", "app", "cert.pem")));
    expect(await (await api("/healthz")).text()).toBe("ok");
  });

  test("a forced renewal is served without a restart", async () => {
    const before = await servedSerial();
    const res = await api("/api/certs/app/renew?force=1", { method: "POST", token: CANARY });
    expect(res.status).toBe(202);
    await daemon.waitForOutput("http: listening again (its certificate was renewed)");
    const after = await servedSerial();
    expect(after).not.toBe(before);
    expect(after).toBe(serialOf(join(dir, "certs", "app", "cert.pem")));
    expect(daemon.proc.exitCode).toBeNull();
  });
});

describe("authentication", () => {
  test("no token and a wrong token are 401; the right one gives what the socket gives", async () => {
    expect((await api("/api/certs")).status).toBe(401);
    expect((await api("/api/certs", { token: "x".repeat(32) })).status).toBe(401);
    await waitFor(async () => (await list(socket))[0]?.status === "ok", 30_000, 100, "app to be ok");
    const overTcp = await (await api("/api/certs", { token: CANARY })).json();
    const overSocket = await (await fetch("http://rota/api/certs", { unix: socket })).json();
    expect(overTcp).toEqual(overSocket);
  });

  test("a browser logs in, reads, and changes state only with its CSRF token", async () => {
    const page = await api("/api/status");
    expect(page.status).toBe(401);
    const redirect = await api("/");
    expect(redirect.status).toBe(303);
    expect(redirect.headers.get("Location")).toBe("/login?next=%2F");

    const login = await api("/login", { method: "POST", body: new URLSearchParams({ token: CANARY, next: "/" }) });
    expect(login.status).toBe(303);
    const setCookie = login.headers.get("Set-Cookie") ?? "";
    expect(setCookie).toContain("Secure");
    const cookie = setCookie.split(";")[0]!;
    const home = await (await api("/", { cookie })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(home)?.[1];
    expect(csrf).toBeString();

    expect((await api("/api/status", { cookie })).status).toBe(200);
    const without = await api("/api/certs/app/renew", { method: "POST", cookie });
    expect(without.status).toBe(403);
    const foreign = await api("/api/certs/app/renew", { method: "POST", cookie, headers: { "X-CSRF-Token": csrf!, Origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
    const ok = await api("/api/certs/app/renew", { method: "POST", cookie, headers: { "X-CSRF-Token": csrf!, Origin: origin } });
    expect([200, 409]).toContain(ok.status);
  });

  test("a reload with a new token ends every session and refuses the old token", async () => {
    const login = await api("/login", { method: "POST", body: new URLSearchParams({ token: CANARY }) });
    const cookie = (login.headers.get("Set-Cookie") ?? "").split(";")[0]!;
    // Event streams opened before the change end with it, as the HTTP requests are refused (tester's finding: they kept receiving).
    const streams = await Promise.all(([{ Cookie: cookie }, { Authorization: `Bearer ${CANARY}` }] as Record<string, string>[]).map(openEvents));
    const next = `${CANARY}-rotated`;
    writeFileSync(join(dir, "token2"), next);
    chmodSync(join(dir, "token2"), 0o644);
    writeRotaConfig("token2");
    // Back to the first token whatever fails here: the tests after this one use it.
    try {
      const r = await runRota(["reload", "--config", config]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("http changed");
      expect((await api("/api/status", { cookie })).status).toBe(401);
      expect((await api("/api/status", { token: CANARY })).status).toBe(401);
      expect((await api("/api/status", { token: next })).status).toBe(200);
      expect(await Promise.all(streams.map((s) => s.closed))).toEqual([
        { code: 4401, reason: "session ended: sign in again" },
        { code: 4401, reason: "token no longer valid" },
      ]);
      expect(daemon.output()).toContain("readable by group or others (mode 0644)");

      // The same file with a new token: the section reads the same, yet the token changed and every session ended.
      const third = `${CANARY}-rotated-again`;
      writeFileSync(join(dir, "token2"), third);
      const logged = () => daemon.output().split("reload: http changed").length - 1;
      const before = logged();
      const again = await runRota(["reload", "--config", config]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain("http changed");
      expect((await api("/api/status", { token: next })).status).toBe(401);
      expect((await api("/api/status", { token: third })).status).toBe(200);
      await waitFor(() => logged() > before, 5_000, 20, "the reload's summary line");
    } finally {
      writeRotaConfig("token");
      expect((await runRota(["reload", "--config", config])).code).toBe(0);
    }
  });

  test("the token is in no log line and no reply", () => {
    const log = daemon.output();
    expect(log).toContain("http: refused");
    expect(log).not.toContain(CANARY);
    for (const reply of replies) expect(reply).not.toContain(CANARY);
  });
});

describe("the dashboard's audit and status pages, and the overview's timeline", () => {
  test("read from the running daemon over its TLS listener", async () => {
    const login = await api("/login", { method: "POST", body: new URLSearchParams({ token: CANARY }) });
    const cookie = (login.headers.get("Set-Cookie") ?? "").split(";")[0]!;
    await waitFor(async () => (await list(socket))[0]?.status === "ok", 30_000, 100, "app to be ok");

    const status = await (await api("/status", { cookie })).text();
    expect(status).toContain(`<code>${origin}</code>`);
    expect(status).toContain(`managed cert <a href="/certs/app">app</a>`);
    expect(status).toContain(`<code>${config}</code>`);
    expect(status).toMatch(/<dd id="status-running">\d/);

    const audit = await (await api("/audit?cert=app", { cookie })).text();
    expect(audit).toMatch(/<a href="\/renewals\/[^"]+"><time/);
    expect(audit).toContain(`<a href="/certs/app">app</a>`);
    const bad = await api("/audit?since=yesterday", { cookie });
    expect(bad.status).toBe(200);
    expect(await bad.text()).toContain(`<p class="error-box" role="alert">since must be an ISO 8601`);

    // The local CA issues for 90 days by default: app's expiry lies in the window, its planned renewal too.
    const home = await (await api("/", { cookie })).text();
    expect(home).toContain(`<details class="timeline" open="">`);
    expect(home).toMatch(/<rect class="expiry"[^>]*><title>1 expiry on \d{4}-\d{2}-\d{2}: app<\/title>/);
  });
});

describe("hostile requests get a clean 4xx and the daemon keeps serving", () => {
  test.each([
    ["a 10 MB body", "/api/reload", { method: "POST", body: "x".repeat(10_000_000) }, 413],
    ["a 100 KB header", "/api/certs", { headers: { "X-Filler": "a".repeat(100_000) } }, 431],
    ["a path climbing out", "/api/certs/..%2f..%2fetc%2fpasswd", {}, 404],
    ["a NUL in an id", "/api/certs/app%00.key", {}, 404],
    ["a bad limit", "/api/certs?limit=-1", {}, 400],
    ["a bad since", "/api/renewals?since=yesterday", {}, 400],
    ["an empty cert", "/api/renewals?cert=", {}, 400],
    ["an unknown route", "/api/nope", {}, 404],
    ["a login with a 10 MB form", "/login", { method: "POST", body: "token=" + "x".repeat(10_000_000), headers: { "Content-Type": "application/x-www-form-urlencoded" } }, 413],
  ] as const)("%s", async (_, path, init, status) => {
    const res = await api(path, { ...init, token: CANARY } as RequestInit & { token: string });
    expect(res.status).toBe(status);
    expect(await (await api("/healthz")).text()).toBe("ok");
  });

  test.each([
    ["GET", "/api/nothing"],
    ["GET", "/api"],
    ["GET", "/api/certs/app/"],
    ["PUT", "/api/certs"],
    ["DELETE", "/api/certs"],
    ["PATCH", "/api/certs"],
    ["OPTIONS", "/api/certs"],
  ])("%s %s is the socket's JSON 404, with the API's headers", async (method, path) => {
    const res = await api(path, { method, token: CANARY });
    expect(res.status).toBe(404);
    expect(res.headers.get("Content-Type")).toStartWith("application/json");
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    const body = await res.json();
    expect(body).toEqual({ error: `no route ${method} ${path}` });
    const overSocket = await fetch(`http://rota${path}`, { method, unix: socket });
    expect(overSocket.status).toBe(404);
    expect(await overSocket.json()).toEqual(body);
  });

  test.each(["Bearer", "Bearer  ", `Basic ${btoa("a:b")}`, "Bearer a b c", `Bearer ${"x".repeat(8000)}`])("Authorization %p is 401", async (header) => {
    const res = await api("/api/status", { headers: { Authorization: header } });
    expect(res.status).toBe(401);
  });

  test("a cookie signed with another key is refused", async () => {
    const res = await api("/api/status", { cookie: "rota_session=v1.abc.99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    expect(res.status).toBe(401);
    expect(daemon.output()).not.toMatch(/\n\s+at /);
  });
});

describe("the CLI as a remote client", () => {
  const remote = (...args: string[]) => ["--url", origin, "--token-file", join(dir, "token"), "--ca-file", join(dir, "root.pem"), ...args];

  test("rota list --json over TCP gives what it gives over the socket", async () => {
    writeFileSync(join(dir, "root.pem"), root);
    await waitFor(async () => (await list(socket))[0]?.status === "ok", 30_000, 100, "app to be ok");
    const viaUrl = await runRota(["list", "--json", ...remote()]);
    const viaSocket = await runRota(["list", "--json", "--socket", socket]);
    expect(viaUrl.stderr).toBe("");
    expect(viaUrl.code).toBe(0);
    // next_check moves at every tick (each second here), which may fall between the two calls.
    const certs = (stdout: string) => (JSON.parse(stdout) as Record<string, unknown>[]).map(({ next_check: _, ...rest }) => rest);
    expect(certs(viaUrl.stdout)).toEqual(certs(viaSocket.stdout));
    const status = await runRota(["status", "--check", ...remote()]);
    expect(status.code).toBe(0);
  });

  test("ROTA_URL and ROTA_TOKEN work as the flags do; renew --wait follows the steps over TCP", async () => {
    const r = await runRota(["renew", "app", "--force", "--wait", "--ca-file", join(dir, "root.pem")], { env: { ROTA_URL: origin, ROTA_TOKEN: CANARY } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("  install");
    expect(r.stdout).toMatch(/renewal \S+ succeeded/);
  });

  test("a wrong token is exit 3: the daemon refused the token", async () => {
    writeFileSync(join(dir, "wrong"), "w".repeat(40));
    const r = await runRota(["list", "--url", origin, "--token-file", join(dir, "wrong"), "--ca-file", join(dir, "root.pem")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`rota: the daemon at ${origin}/ refused the token (HTTP 401); check --token-file or ROTA_TOKEN\n`);
  });

  test("a certificate from a CA the client does not trust names the cause and the fix", async () => {
    const r = await runRota(["list", "--url", origin, "--token-file", join(dir, "token")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("TLS: the daemon's certificate is not from a trusted CA");
    expect(r.stderr).toContain("--ca-file");
  });
});

describe("config mistakes in [http]", () => {
  const check = async (http: string) => {
    const file = join(dir, "bad.toml");
    writeFileSync(file, `${localCaConfig()}\n[http]\n${http}\n`.replaceAll('"state"', `"${join(dir, "bad-state")}"`));
    return runRota(["check-config", "--config", file]);
  };

  test.each([
    ['listen = "localhost:8844"\ntoken_env = "HOME"', "http.listen: \"localhost:8844\" must be a bind address"],
    [`listen = "127.0.0.1:8844"`, "http.token_file: is required (or token_env)"],
    [`listen = "127.0.0.1:8844"\ntoken_env = "ROTA_SHORT_TOKEN"`, "http.token_env: the token is 5 characters; use at least 16 (make one with: head -c 32 /dev/urandom | base64)"],
    [`listen = "127.0.0.1:8844"\ntoken_env = "ROTA_SPACED_TOKEN"`, 'http.token_env: the token contains whitespace, which an "Authorization: Bearer" header cannot carry'],
    [`listen = "127.0.0.1:8844"\ntoken_file = "spaced-token"`, 'http.token_file: the token contains whitespace, which an "Authorization: Bearer" header cannot carry'],
    [`listen = "127.0.0.1:8844"\ntoken_env = "ROTA_LATIN_TOKEN"`, "http.token_env: the token contains a character outside printable ASCII"],
    [`listen = "0.0.0.0:8844"\ntoken_env = "HOME_TOKEN_LONG"`, "is not loopback and there is no TLS"],
    [`listen = "127.0.0.1:8844"\ntoken_env = "HOME_TOKEN_LONG"\ntls_cert_id = "nope"`, 'http.tls_cert_id: "nope" is not a configured cert id'],
    [`listen = "127.0.0.1:8844"\ntoken_env = "HOME_TOKEN_LONG"\nallow_plain_http = "yes"`, "http.allow_plain_http: must be true or false, not a string"],
  ])("%s", async (http, message) => {
    process.env.ROTA_SHORT_TOKEN = "short";
    process.env.HOME_TOKEN_LONG = "a-long-enough-token-value";
    process.env.ROTA_SPACED_TOKEN = "correct horse battery staple";
    process.env.ROTA_LATIN_TOKEN = "bücher-token-value-long-enough";
    writeFileSync(join(dir, "spaced-token"), "correct horse battery staple\n", { mode: 0o600 });
    const r = await check(http);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toContain("    at ");
  });

  test.each([
    ["a key that is not the certificate's", "mismatch", (c: string, k: string) => `http.tls_key: ${k} is not the private key of the certificate in ${c} (KEY_VALUES_MISMATCH)`],
    ["a certificate file that is no PEM", "junk", (c: string) => `http.tls_cert: ${c}: no certificate can be loaded from it (NO_START_LINE)`],
  ])("%s: check-config refuses it as the daemon does, exit 2", async (_, kind, message) => {
    const pair = (name: string) => {
      const p = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`), "-days", "1", "-subj", `/CN=${name}`]);
      expect(p.exitCode).toBe(0);
    };
    pair("tls-a");
    pair("tls-b");
    writeFileSync(join(dir, "tls-junk.crt"), "not a certificate\n");
    const cert = join(dir, kind === "junk" ? "tls-junk.crt" : "tls-a.crt");
    const key = join(dir, kind === "junk" ? "tls-a.key" : "tls-b.key");
    const file = join(dir, `tls-${kind}.toml`);
    const http = `[http]\nlisten = "127.0.0.1:${await freePort()}"\ntoken_file = "token"\ntls_cert = "${cert}"\ntls_key = "${key}"\n`;
    writeFileSync(file, `${localCaConfig()}\n${http}`.replaceAll('"state"', `"tls-${kind}-state"`).replaceAll('"rota.sock"', `"tls-${kind}.sock"`));
    const checked = await runRota(["check-config", "--config", file]);
    expect(checked.code).toBe(2);
    expect(checked.stderr).toContain(message(cert, key));
    expect(checked.stderr).not.toContain("    at ");
    const started = await runRota(["daemon", "--config", file]);
    expect(started.code).toBe(2);
    expect(started.stderr).toContain(message(cert, key));
  });

  test("a port already in use stops the start with exit 2 naming http.listen", async () => {
    const file = join(dir, "busy.toml");
    writeFileSync(
      file,
      `${localCaConfig()}\n[http]\nlisten = "127.0.0.1:${port}"\ntoken_file = "token"\n`.replaceAll('"state"', '"busy-state"').replaceAll('"rota.sock"', '"busy.sock"'),
    );
    const r = await runRota(["daemon", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`http.listen: 127.0.0.1:${port}: the address is already in use`);
  });
});

describe("dashboard pages from the running daemon", () => {
  test("an unknown path signed in is the HTML not-found page, not cached; Renew now without a session returns to the cert's page", async () => {
    const login = await api("/login", { method: "POST", body: new URLSearchParams({ token: CANARY }) });
    expect(login.headers.get("Cache-Control")).toBe("no-store");
    const cookie = (login.headers.get("Set-Cookie") ?? "").split(";")[0]!;
    for (const path of ["/nothing", "/favicon.ico"]) {
      const res = await api(path, { cookie });
      expect(res.status).toBe(404);
      expect(res.headers.get("Content-Type")).toStartWith("text/html");
      expect(res.headers.get("Content-Security-Policy")).toContain("default-src 'self'");
      expect(res.headers.get("Cache-Control")).toBe("no-store");
      expect(await res.text()).toContain("<h1>Page not found</h1>");
      expect((await api(path)).headers.get("Location")).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    expect((await api("/certs/app", { cookie })).headers.get("Cache-Control")).toBe("no-store");
    const stale = await api("/certs/app/renew", { method: "POST", body: new URLSearchParams({ _csrf: "x" }), headers: { Origin: origin } });
    expect(stale.status).toBe(303);
    expect(stale.headers.get("Location")).toBe("/login?next=%2Fcerts%2Fapp");
  });
});

describe("a logout holds for as long as its cookie could (this restarts the daemon)", () => {
  const signIn = async () => {
    const login = await api("/login", { method: "POST", body: new URLSearchParams({ token: CANARY }) });
    const cookie = (login.headers.get("Set-Cookie") ?? "").split(";")[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await api("/", { cookie })).text())?.[1] ?? "";
    return { cookie, csrf };
  };
  const statusWith = async (cookie: string) => (await api("/api/status", { cookie })).status;
  const restart = async () => {
    await daemon.stop();
    daemon = startDaemon(config, { env: { ROTA_LOG_LEVEL: "debug" } });
    await daemon.waitForOutput(`http: listening on ${origin}`);
  };
  const revokedFile = () => join(dir, "state", "http", "revoked.json");
  let out: { cookie: string; csrf: string };
  let kept: { cookie: string; csrf: string };

  test("across a reload that changes [http], a plain SIGHUP and a restart", async () => {
    out = await signIn();
    kept = await signIn();
    const logout = await api("/logout", { method: "POST", cookie: out.cookie, headers: { "X-CSRF-Token": out.csrf, Origin: origin } });
    expect(logout.status).toBe(303);
    expect(await statusWith(out.cookie)).toBe(401);
    expect(statSync(revokedFile()).mode & 0o777).toBe(0o600);

    writeRotaConfig("token", "session_hours = 2");
    expect((await runRota(["reload", "--config", config])).code).toBe(0);
    expect(await statusWith(out.cookie)).toBe(401);
    expect(await statusWith(kept.cookie)).toBe(200);

    const reloads = () => daemon.output().split("reload: ").length;
    const before = reloads();
    await daemon.signal("SIGHUP");
    await waitFor(async () => reloads() > before, 30_000, 50, "the SIGHUP reload");
    expect(await statusWith(out.cookie)).toBe(401);

    await restart();
    expect(await statusWith(out.cookie)).toBe(401);
    expect(await statusWith(kept.cookie)).toBe(200);
  });

  test("a start that finds the logouts lost ends every session, says so, and lets the user sign in again", async () => {
    await daemon.stop();
    rmSync(revokedFile());
    daemon = startDaemon(config, { env: { ROTA_LOG_LEVEL: "debug" } });
    await daemon.waitForOutput(`http: listening on ${origin}`);
    expect(daemon.output()).toContain("revoked.json is missing: the logouts it held are unknown, so every browser session has ended");
    expect(await statusWith(out.cookie)).toBe(401);
    expect(await statusWith(kept.cookie)).toBe(401);
    expect(await statusWith((await signIn()).cookie)).toBe(200);
    expect(statSync(revokedFile()).mode & 0o777).toBe(0o600);
  });
});
