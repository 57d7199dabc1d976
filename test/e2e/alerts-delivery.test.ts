/**
 * End to end (issue 8): the compiled daemon with real pebble, a real SMTP server and a
 * webhook receiver that checks the signature, all on loopback. A CA that refuses
 * connections fails the cert at every tick; the repeat limit lets exactly one mail and one
 * webhook through. The CA back (a reload) sends exactly one `cert.recovered` each. Then
 * `rota alert test`, `rota alerts --json`, and a canary: no secret in the log, the API or
 * the store's bytes. Last, a receiver answering 503: `rota alert test` reports the sink's
 * failure after its retries (over the socket and over TCP), and the failure alert it lost
 * holds nothing back once the receiver is back.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";
import { freePort, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit } from "./helpers.ts";

const SMTP_USER = "rota";
// Canaries: unique enough that finding one anywhere means it leaked.
const SMTP_PASSWORD = `smtp-canary-${crypto.randomUUID()}`;
const WEBHOOK_SECRET = `hmac-canary-${crypto.randomUUID()}`;
const BEARER_TOKEN = `bearer-canary-${crypto.randomUUID()}`;
const TOKEN_ENV = "ROTA_E2E_HOOK_TOKEN";
/** A receiver's reply written to act on a terminal: erase the line, cursor up, green, a window title. */
const HOSTILE_REPLY = "\u001b[2K\u001b[1A\u001b[32mall good\u001b]0;pwned\u0007";

interface Mail {
  raw: string;
  /** The envelope's recipients the server took. */
  to?: string[];
  header(name: string): string | undefined;
}

interface Hook {
  headers: Headers;
  body: { type: string; id: string; severity: string; message: string; cert: { id: string } | null; renewal: { status: string; error: string | null } | null };
}

let world: World;
let daemon: Daemon;
let smtp: SMTPServer;
let hookServer: ReturnType<typeof Bun.serve>;
const mails: Mail[] = [];
const hooks: Hook[] = [];
/** Requests the receiver refused: a bad signature or token would show here, not as a delivery. */
const refused: string[] = [];
/** While set, the receiver answers every request with this status; each one is kept as "<event> <delivery id>". */
let hookDown: number | null = null;
const hookRefusals: string[] = [];
/** Both sinks, as the first config has them. */
let bothSinks: string;
let smtpPort: number;
let configFor: (directoryUrl: string, sinks?: string) => string;
/** The mail sink alone, with another subject prefix. */
let mailOnly: (prefix: string) => string;

/** The check `docs/alerts.md` tells receivers to make: HMAC over "<t>.<raw body>", at most 5 minutes old. */
function verify(header: string, secret: string, rawBody: string): boolean {
  const { t, v1 } = Object.fromEntries(header.split(",").map((p) => p.split("=", 2))) as { t?: string; v1?: string };
  if (!/^\d+$/.test(t ?? "") || !/^[0-9a-f]{64}$/.test(v1 ?? "")) return false;
  if (Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest();
  return timingSafeEqual(Buffer.from(v1!, "hex"), expected);
}

function parseMail(raw: string): Mail {
  const head = raw.split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]+/g, " ");
  return {
    raw,
    header: (name) => head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.slice(name.length + 1).trim(),
  };
}

const mailsOf = (type: string) => mails.filter((m) => m.header("X-Rota-Event") === type);
const hooksOf = (type: string) => hooks.filter((h) => h.body.type === type);

interface Delivery {
  alert_id: string;
  sink: string;
  event: string;
  cert_id: string | null;
  outcome: string;
  error: string | null;
  attempts: number;
}

async function deliveries(): Promise<Delivery[]> {
  const r = await runRota(["alerts", "--json", "--limit", "500", "--socket", world.socket]);
  if (r.code !== 0) throw new Error(`rota alerts exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Delivery[];
}

async function failedAttempts(): Promise<number> {
  return (await audit(world.socket, "www").catch(() => [])).filter((r) => r.status === "failed").length;
}

beforeAll(async () => {
  world = await startWorld();
  smtpPort = await freePort();
  smtp = new SMTPServer({
    // Plain text with AUTH: the password travels, so the canary is tested where it is used.
    secure: false,
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    authMethods: ["PLAIN", "LOGIN"],
    logger: false,
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith("bad@")) return cb(Object.assign(new Error("5.1.1 no such user"), { responseCode: 550 }));
      cb();
    },
    onAuth(auth, _session, cb) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) return cb(null, { user: auth.username });
      refused.push(`smtp auth ${auth.username}`);
      cb(new Error("Invalid login"));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        mails.push({ ...parseMail(Buffer.concat(chunks).toString("utf8")), to: session.envelope.rcptTo.map((r) => r.address) });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    smtp.once("error", reject);
    smtp.listen(smtpPort, "127.0.0.1", () => resolve());
  });
  hookServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const raw = await req.text();
      if (hookDown !== null) {
        hookRefusals.push(`${req.headers.get("x-rota-event")} ${req.headers.get("x-rota-delivery")}`);
        return new Response(hookDown === 403 ? HOSTILE_REPLY : "down for maintenance", { status: hookDown });
      }
      const signature = req.headers.get("x-rota-signature") ?? "";
      if (req.headers.get("authorization") !== `Bearer ${BEARER_TOKEN}` || !verify(signature, WEBHOOK_SECRET, raw)) {
        refused.push(`webhook ${req.headers.get("x-rota-event")}`);
        return new Response("bad signature", { status: 401 });
      }
      hooks.push({ headers: req.headers, body: JSON.parse(raw) as Hook["body"] });
      return new Response(null, { status: 204 });
    },
  });

  writeFileSync(join(world.dir, "smtp.pass"), `${SMTP_PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(join(world.dir, "webhook.secret"), WEBHOOK_SECRET, { mode: 0o600 });
  const mail = `
[[alert]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = ${smtpPort}
tls = "none"
from = "rota@example.test"
to = ["ops@example.test"]
username = "${SMTP_USER}"
password_file = ${JSON.stringify(join(world.dir, "smtp.pass"))}
`;
  const hook = `
[[alert]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:${hookServer.port}/rota"
secret_file = ${JSON.stringify(join(world.dir, "webhook.secret"))}
bearer_token_env = "${TOKEN_ENV}"
headers = { "X-Team" = "ops" }
`;
  bothSinks = `${mail}${hook}`;
  configFor = (directoryUrl, sinks = bothSinks) =>
    world.writeConfig({ directoryUrl, daemon: { check_interval_seconds: 1, failure_cooldown_seconds: 1, failure_cooldown_max_seconds: 2 }, extra: sinks });
  mailOnly = (prefix) => `${mail}subject_prefix = "${prefix}"\n`;
});

afterAll(async () => {
  await daemon?.stop();
  hookServer?.stop(true);
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  await world?.stop();
});

test("a CA down at every tick: many failed attempts, one mail and one webhook", async () => {
  const config = configFor(`https://127.0.0.1:${await freePort()}/dir`);
  daemon = startDaemon(config, { env: { ...world.env, [TOKEN_ENV]: BEARER_TOKEN } });
  await daemon.waitForOutput("listening on");
  // Six: the fifth failure has been routed (and held back) by the time the sixth one ends.
  await waitFor(async () => (await failedAttempts()) >= 6 && mails.length > 0 && hooks.length > 0, 60_000, 200, "6 failed attempts and the first alerts");
  expect(refused).toEqual([]);
  expect(mailsOf("renewal.failed")).toHaveLength(1);
  expect(hooksOf("renewal.failed")).toHaveLength(1);
  const [mail] = mails;
  expect(mail!.header("Subject")).toBe("[rota] www: renewal failed");
  expect(mail!.raw).toContain("text/plain");
  expect(mail!.raw).toContain("text/html");
  const [hook] = hooks;
  expect(hook!.body).toMatchObject({ type: "renewal.failed", severity: "critical", cert: { id: "www" }, renewal: { status: "failed" } });
  expect(hook!.body.renewal!.error).toMatch(/ECONNREFUSED|refused|Unable to connect/i);
  expect(hook!.headers.get("x-rota-delivery")).toBe(hook!.body.id);
  expect(hook!.headers.get("x-team")).toBe("ops");
  // Each failed attempt and its cooldown take ~4 s: more than the default timeout when the whole suite runs.
}, 120_000);

test("the CA back (a reload): exactly one cert.recovered each", async () => {
  configFor(world.pebble.directoryUrl);
  const reload = await runRota(["reload", "--socket", world.socket]);
  expect(reload.code).toBe(0);
  await waitFor(() => mailsOf("cert.recovered").length > 0 && hooksOf("cert.recovered").length > 0, 60_000, 100, "the recovery alerts");
  const rows = await audit(world.socket, "www");
  expect(rows[0]!.status).toBe("succeeded");
  // A few ticks with the cert fine: nothing more to say.
  const seen = (await runRota(["list", "--json", "--socket", world.socket])).stdout;
  await waitFor(async () => (await runRota(["list", "--json", "--socket", world.socket])).stdout !== seen, 10_000, 200, "a later check");
  expect(mailsOf("cert.recovered")).toHaveLength(1);
  expect(hooksOf("cert.recovered")).toHaveLength(1);
  expect(mailsOf("cert.recovered")[0]!.header("Subject")).toMatch(/^\[rota\] www: renewal recovered \(\d+ days left\)$/);
  expect(mailsOf("renewal.failed")).toHaveLength(1);
  expect(hooksOf("renewal.failed")).toHaveLength(1);
}, 60_000);

test("rota alert test reaches both sinks; an unknown sink exits 2", async () => {
  const r = await runRota(["alert", "test", "--socket", world.socket]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(r.stdout.split("\n").sort()).toEqual(["", "hook: delivered", "mail: delivered"]);
  expect(mailsOf("alert.test")).toHaveLength(1);
  expect(hooksOf("alert.test")).toHaveLength(1);
  expect(mailsOf("alert.test")[0]!.header("Subject")).toBe("[rota] test alert");

  const nope = await runRota(["alert", "test", "nope", "--socket", world.socket]);
  expect(nope.code).toBe(2);
  expect(nope.stderr).toContain('"nope"');
  expect(refused).toEqual([]);
});

test("rota alerts --json lists every delivery", async () => {
  const log = await deliveries();
  const summary = log.map((d) => `${d.event} ${d.sink} ${d.outcome} ${d.attempts}`).sort();
  expect(summary).toEqual([
    "alert.test hook delivered 1",
    "alert.test mail delivered 1",
    "cert.recovered hook delivered 1",
    "cert.recovered mail delivered 1",
    "renewal.failed hook delivered 1",
    "renewal.failed mail delivered 1",
  ]);
  // The id a receiver de-duplicates on is the one recorded.
  expect(log.find((d) => d.event === "renewal.failed" && d.sink === "hook")!.alert_id).toBe(hooksOf("renewal.failed")[0]!.body.id);
  expect(log.filter((d) => d.event !== "alert.test").every((d) => d.cert_id === "www")).toBe(true);
});

test("a reload applies alert changes: a sink's new key, a sink removed", async () => {
  configFor(world.pebble.directoryUrl, mailOnly("[nas]"));
  const reload = await runRota(["reload", "--socket", world.socket]);
  expect(reload.code).toBe(0);
  const r = await runRota(["alert", "test", "--socket", world.socket]);
  expect([r.code, r.stdout]).toEqual([0, "mail: delivered\n"]);
  expect(mailsOf("alert.test").map((m) => m.header("Subject"))).toEqual(["[rota] test alert", "[nas] test alert"]);
  expect((await runRota(["alert", "test", "hook", "--socket", world.socket])).code).toBe(2);
  expect(hooksOf("alert.test")).toHaveLength(1);
});

test("canary: no secret in a log line, an API reply or the store's bytes", async () => {
  const secrets = [SMTP_PASSWORD, WEBHOOK_SECRET, BEARER_TOKEN, Buffer.from(SMTP_PASSWORD).toString("base64")];
  const renewals = await audit(world.socket, "www");
  const paths = ["/api/alerts?limit=500", "/api/status", "/api/certs", "/api/certs/www", "/api/renewals?limit=100", `/api/renewals/${renewals[0]!.id}`, `/api/renewals/${renewals[0]!.id}/events`];
  const replies: string[] = [];
  for (const p of paths) {
    const res = await fetch(`http://rota${p}`, { unix: world.socket });
    expect([p, res.status]).toEqual([p, 200]);
    replies.push(await res.text());
  }
  const cli = await Promise.all(
    [["status", "--json"], ["list", "--json"], ["alerts"], ["audit", "www", "--json"]].map((args) => runRota([...args, "--socket", world.socket])),
  );
  const db = join(world.stateDir, "rota.db");
  const stored = [db, `${db}-wal`].filter(existsSync).map((f) => readFileSync(f).toString("latin1"));
  expect(stored.length).toBeGreaterThan(0);
  const places = { log: daemon.output(), api: replies.join("\n"), cli: cli.map((r) => r.stdout + r.stderr).join("\n"), store: stored.join("\n") };
  for (const [where, text] of Object.entries(places)) for (const s of secrets) expect([where, text.includes(s)]).toEqual([where, false]);
});

test("a receiver answering 503: rota alert test reports the failure after 3 attempts, on the socket and over TCP; the failure alert lost holds nothing back", async () => {
  const port = await freePort();
  const tokenFile = join(world.dir, "api.token");
  writeFileSync(tokenFile, `${crypto.randomUUID()}\n`, { mode: 0o600 });
  const http = `\n[http]\nlisten = "127.0.0.1:${port}"\ntoken_file = ${JSON.stringify(tokenFile)}\n`;
  hookDown = 503;
  // The CA down again: the cert is valid, so only a forced renewal fails, once each time.
  configFor(`https://127.0.0.1:${await freePort()}/dir`, `${bothSinks}${http}`);
  expect((await runRota(["reload", "--socket", world.socket])).code).toBe(0);
  // 5 s and 10 s between the attempts: past the 10 s Bun gives a request by default.
  const [overSocket, overTcp] = await Promise.all([
    runRota(["alert", "test", "hook", "--socket", world.socket]),
    runRota(["alert", "test", "hook", "--url", `http://127.0.0.1:${port}`, "--token-file", tokenFile]),
  ]);
  for (const r of [overSocket, overTcp]) {
    expect([r.code, r.stderr]).toEqual([1, ""]);
    expect(r.stdout).toMatch(new RegExp(`^hook: failed after 3 attempts: webhook hook: http://127\\.0\\.0\\.1:${hookServer.port}: HTTP 503: down for maintenance\n$`));
  }
  const tests = hookRefusals.filter((r) => r.startsWith("alert.test "));
  expect(tests).toHaveLength(6);
  expect(new Set(tests).size).toBe(2);
  expect(daemon.output()).not.toContain("timed out a request");

  // The recovery cleared the limit: this failure goes to both; the hook answers 503 to its 3 attempts.
  const failedBefore = await failedAttempts();
  await runRota(["renew", "www", "--force", "--socket", world.socket]);
  const lostAlert = async () => (await deliveries()).find((d) => d.event === "renewal.failed" && d.sink === "hook" && d.outcome === "failed");
  await waitFor(async () => (await lostAlert()) !== undefined, 60_000, 200, "the hook's failure alert lost");
  const lost = (await lostAlert())!;
  expect(lost.attempts).toBe(3);
  expect(hookRefusals.filter((r) => r === `renewal.failed ${lost.alert_id}`)).toHaveLength(3);
  expect(hooksOf("renewal.failed")).toHaveLength(1);
  hookDown = null;
  // The next failure reaches the hook, not one a day later; the mail sink got the one before and holds this one.
  await runRota(["renew", "www", "--force", "--socket", world.socket]);
  await waitFor(() => hooksOf("renewal.failed").length === 2, 30_000, 100, "the next failure alert at the hook");
  expect(await failedAttempts()).toBeGreaterThanOrEqual(failedBefore + 2);
  expect(hooksOf("renewal.failed")[1]!.body.id).not.toBe(lost.alert_id);
  expect(mailsOf("renewal.failed")).toHaveLength(2);
  expect(refused).toEqual([]);
}, 120_000);

test("one recipient refused while the other takes the mail: failed, naming it, not retried; a receiver's terminal escapes print escaped", async () => {
  const twoRecipients = bothSinks.replace('to = ["ops@example.test"]', 'to = ["ops@example.test", "bad@example.test"]');
  expect(twoRecipients).not.toBe(bothSinks);
  configFor(world.pebble.directoryUrl, twoRecipients);
  expect((await runRota(["reload", "--socket", world.socket])).code).toBe(0);
  hookDown = 403;
  const testsBefore = mailsOf("alert.test").length;
  const r = await runRota(["alert", "test", "--socket", world.socket]);
  expect([r.code, r.stderr]).toEqual([1, ""]);
  expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  expect(r.stdout.split("\n").sort()).toEqual([
    "",
    `hook: failed: webhook hook: http://127.0.0.1:${hookServer.port}: HTTP 403: \\u001b[2K\\u001b[1A\\u001b[32mall good\\u001b]0;pwned\\u0007`,
    `mail: failed: mail: 127.0.0.1:${smtpPort}: refused for bad@example.test (550 5.1.1 no such user); delivered to ops@example.test`,
  ]);
  // One mail, to the recipient the server took; one attempt each: neither failure is retried.
  expect(mailsOf("alert.test").slice(testsBefore).map((m) => m.to)).toEqual([["ops@example.test"]]);
  const log = (await deliveries()).slice(0, 2);
  expect(log.map((d) => `${d.sink} ${d.outcome} ${d.attempts}`).sort()).toEqual(["hook failed 1", "mail failed 1"]);
  expect(log.find((d) => d.sink === "mail")!.error).toContain("refused for bad@example.test");
  const human = await runRota(["alerts", "--limit", "2", "--socket", world.socket]);
  expect(human.code).toBe(0);
  expect(human.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  expect(human.stdout).toContain("\\u001b]0;pwned\\u0007");
  hookDown = null;
}, 60_000);
