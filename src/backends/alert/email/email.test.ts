/**
 * @module The email sink against a real `smtp-server` on loopback, in plain, STARTTLS and
 * implicit-TLS modes, with and without AUTH: what arrives, what is refused, and how each
 * failure is classified. The servers start once for the file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { makeLoopbackTls, type LoopbackTls } from "../../../../test/harness/certs.ts";
import { freePort } from "../../../../test/harness/ports.ts";
import { RotaError } from "../../../errors.ts";
import { FakeClock } from "../../../testing/fake-clock.ts";
import { PARTLY_DELIVERED, type Alert } from "../../types.ts";
import type { EmailConfig } from "./config.ts";
import { createEmailAlert } from "./email.ts";

const CANARY = "canary-pa55word-7f3e";
const dir = mkdtempSync(join(tmpdir(), "rota-email-"));
const passwordFile = join(dir, "smtp.pass");
writeFileSync(passwordFile, `${CANARY}\n`);
const wrongPasswordFile = join(dir, "wrong.pass");
writeFileSync(wrongPasswordFile, `${CANARY}-wrong\n`);
const tls: LoopbackTls = makeLoopbackTls(dir);
const ctx = { stateDir: dir, clock: new FakeClock("2030-01-01T04:00:00Z"), log: createConsola({ level: -999 }), emit: () => {}, withheldEnv: () => [] };

interface Received {
  raw: string;
  from: string;
  to: string[];
  user: string | undefined;
  secure: boolean;
}
const received: Received[] = [];
const greylisted = new Set<string>();
const servers: SMTPServer[] = [];
const ports = { plain: 0, starttls: 0, implicit: 0, hung: 0, down: 0 };
const hungSockets: Socket[] = [];
let hung: Server;

async function startSmtp(options: SMTPServerOptions): Promise<number> {
  const server = new SMTPServer({
    logger: false,
    disableReverseLookup: true,
    key: readFileSync(tls.keyPath),
    cert: readFileSync(tls.certPath),
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith("gone@")) return cb(Object.assign(new Error("5.1.1 no such user"), { responseCode: 550 }));
      if (address.address.startsWith("busy@")) return cb(Object.assign(new Error("4.2.2 mailbox full, try later"), { responseCode: 452 }));
      // Greylisting: refused for a while the first time, taken the next.
      if (address.address.startsWith("grey@") && !greylisted.has(address.address)) {
        greylisted.add(address.address);
        return cb(Object.assign(new Error("4.7.1 greylisted, come back later"), { responseCode: 451 }));
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          raw: Buffer.concat(chunks).toString("utf8"),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user,
          secure: session.secure,
        });
        cb();
      });
    },
    ...options,
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  servers.push(server);
  return port;
}

beforeAll(async () => {
  // Plain: no STARTTLS offered, no AUTH.
  ports.plain = await startSmtp({ disabledCommands: ["STARTTLS", "AUTH"] });
  // Submission: STARTTLS, AUTH required (after the upgrade).
  ports.starttls = await startSmtp({
    authMethods: ["PLAIN", "LOGIN"],
    onAuth(auth, _session, cb) {
      if (auth.username === "rota" && auth.password === CANARY) return cb(null, { user: "rota" });
      // A hostile or broken server that echoes what it was sent.
      if (auth.username === "echo") return cb(Object.assign(new Error(`5.7.8 bad password ${auth.password}`), { responseCode: 535 }));
      cb(Object.assign(new Error("5.7.8 Authentication credentials invalid"), { responseCode: 535 }));
    },
  });
  // Submissions: TLS from the first byte, no AUTH.
  ports.implicit = await startSmtp({ secure: true, disabledCommands: ["AUTH"] });
  // Accepts connections and never says a word.
  hung = createServer((s) => void hungSockets.push(s));
  ports.hung = await freePort();
  await new Promise<void>((resolve) => hung.listen(ports.hung, "127.0.0.1", () => resolve()));
  ports.down = await freePort();
});

afterAll(async () => {
  for (const s of hungSockets) s.destroy();
  hung.close();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  rmSync(dir, { recursive: true, force: true });
});

function config(over: Partial<EmailConfig>): EmailConfig {
  return {
    host: "127.0.0.1",
    port: ports.plain,
    tls: "none",
    caBundle: undefined,
    auth: undefined,
    from: "rota@example.com",
    to: ["ops@example.com"],
    subjectPrefix: "[rota]",
    ...over,
  };
}

let seq = 0;
function alert(over: Partial<Alert> = {}): Alert {
  seq++;
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    type: "renewal.failed",
    severity: "critical",
    occurredAt: new Date("2030-01-01T03:59:00Z"),
    node: "node-1",
    message: "Renewal of www failed: pebble: connection refused",
    cert: { id: "www", domains: ["www.example.com", "example.com"], notAfter: new Date("2030-01-04T03:00:00Z"), daysLeft: 3 },
    renewal: { id: "r-42", trigger: "schedule", status: "failed", failedStep: "order", error: "pebble: connection refused" },
    next: "retries at 2030-01-01 04:15 UTC",
    repeats: null,
    url: "https://rota.example.com/certs/www",
    ...over,
  };
}

/** The message the server got for this alert, found by its delivery header. */
function arrived(a: Alert): Received | undefined {
  return received.find((r) => r.raw.includes(`X-Rota-Delivery: ${a.id}`));
}

/** A MIME part's body, decoded from quoted-printable or base64. */
function part(raw: string, type: string): string {
  const at = raw.indexOf(`Content-Type: ${type}`);
  if (at < 0) throw new Error(`no ${type} part`);
  const headersEnd = raw.indexOf("\r\n\r\n", at);
  const headers = raw.slice(at, headersEnd);
  const body = raw.slice(headersEnd + 4, raw.indexOf("\r\n--", headersEnd));
  if (/Content-Transfer-Encoding: base64/i.test(headers)) return Buffer.from(body, "base64").toString("utf8").replace(/\r\n/g, "\n");
  if (/Content-Transfer-Encoding: quoted-printable/i.test(headers)) {
    const bytes = body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8").replace(/\r\n/g, "\n");
  }
  return body.replace(/\r\n/g, "\n");
}

async function failure(cfg: EmailConfig, a: Alert = alert(), signal = AbortSignal.timeout(15_000)): Promise<RotaError> {
  const err = await createEmailAlert("mail", cfg, ctx).send(a, signal).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RotaError);
  return err as RotaError;
}

describe("delivery", () => {
  test("plain (tls = none): the message arrives with its subject, both parts and the facts", async () => {
    const a = alert();
    await createEmailAlert("mail", config({}), ctx).send(a, AbortSignal.timeout(15_000));
    const got = arrived(a)!;
    expect(got.from).toBe("rota@example.com");
    expect(got.to).toEqual(["ops@example.com"]);
    expect(got.secure).toBe(false);
    expect(got.raw).toContain("Subject: [rota] www: renewal failed (3 days left)");
    expect(got.raw).toContain("X-Rota-Event: renewal.failed");
    // The Date header comes from the injected clock.
    expect(got.raw).toContain("Date: Tue, 01 Jan 2030 04:00:00 +0000");
    for (const body of [part(got.raw, "text/plain"), part(got.raw, "text/html")]) {
      for (const fact of ["Renewal of www failed: pebble: connection refused", "www.example.com, example.com", "2030-01-04 03:00 UTC (3 days left)", "order", "r-42", "node-1", "retries at 2030-01-01 04:15 UTC", "https://rota.example.com/certs/www"]) {
        expect(body).toContain(fact);
      }
    }
  });

  test("STARTTLS with AUTH: upgraded before the login, trusted through ca_bundle", async () => {
    const a = alert();
    const cfg = config({ port: ports.starttls, tls: "starttls", caBundle: tls.caPath, auth: { username: "rota", password: { from: "file", path: passwordFile } } });
    await createEmailAlert("mail", cfg, ctx).send(a, AbortSignal.timeout(15_000));
    const got = arrived(a)!;
    expect(got.secure).toBe(true);
    expect(got.user).toBe("rota");
    expect(got.raw).toContain("Subject: [rota] www: renewal failed (3 days left)");
  });

  test("implicit TLS without AUTH, to two recipients", async () => {
    const a = alert({ type: "cert.recovered", severity: "info", renewal: null, next: null });
    const cfg = config({ port: ports.implicit, tls: "implicit", caBundle: tls.caPath, to: ["ops@example.com", "oncall@example.com"] });
    await createEmailAlert("mail", cfg, ctx).send(a, AbortSignal.timeout(15_000));
    const got = arrived(a)!;
    expect(got.secure).toBe(true);
    expect(got.to).toEqual(["ops@example.com", "oncall@example.com"]);
    expect(got.raw).toContain("Subject: [rota] www: renewal recovered (3 days left)");
  });

  test("a cert id or message with newlines cannot add a header", async () => {
    const a = alert({ cert: { id: "www\r\nBcc: victim@example.com", domains: ["www.example.com"], notAfter: null, daysLeft: null }, message: "x\r\nX-Injected: yes" });
    await createEmailAlert("mail", config({}), ctx).send(a, AbortSignal.timeout(15_000));
    const got = arrived(a)!;
    const headers = got.raw.slice(0, got.raw.indexOf("\r\n\r\n"));
    expect(headers).not.toMatch(/^Bcc:/im);
    expect(headers).not.toMatch(/^X-Injected:/im);
    expect(headers).toContain("Subject: [rota] www Bcc: victim@example.com: renewal failed\r\n");
    // Nor a line of the body: only the error keeps its newlines.
    expect(part(got.raw, "text/plain")).toStartWith("x X-Injected: yes\n");
    expect(got.to).toEqual(["ops@example.com"]);
  });
});

describe("refusals", () => {
  test("a server certificate from an untrusted CA fails with a clear TLS error, not retried", async () => {
    const err = await failure(config({ port: ports.implicit, tls: "implicit" }));
    expect(err.code).toBe("smtp_tls");
    expect(err.noRetry).toBe(true);
    expect(err.message).toStartWith(`mail: 127.0.0.1:${ports.implicit}: TLS failed: `);
    expect(err.message).toContain("unable to verify the first certificate");
    expect(err.message).toContain("ca_bundle");
  });

  test("STARTTLS through an untrusted CA fails the same way", async () => {
    const err = await failure(config({ port: ports.starttls, tls: "starttls" }));
    expect(err.code).toBe("smtp_tls");
    expect(err.message).toMatch(/certificate/i);
  });

  test('tls = "starttls" against a server without STARTTLS refuses to send in clear', async () => {
    const a = alert();
    const err = await failure(config({ tls: "starttls" }), a);
    expect(err.code).toBe("smtp_tls");
    expect(err.noRetry).toBe(true);
    expect(err.message).toContain("STARTTLS");
    expect(err.message).toContain('tls = "starttls" never falls back to plain text');
    expect(arrived(a)).toBeUndefined();
  });

  test("a wrong password is a login refusal with the server's reply, not retried, and never shows the password", async () => {
    const cfg = config({ port: ports.starttls, tls: "starttls", caBundle: tls.caPath, auth: { username: "rota", password: { from: "file", path: wrongPasswordFile } } });
    const err = await failure(cfg);
    expect(err.code).toBe("smtp_auth");
    expect(err.noRetry).toBe(true);
    expect(err.message).toContain("535");
    expect(err.message).toContain("Authentication credentials invalid");
    expect(describeAll(err)).not.toContain(CANARY);
  });

  test("a server that echoes the password back does not get it into the error", async () => {
    const cfg = config({ port: ports.starttls, tls: "starttls", caBundle: tls.caPath, auth: { username: "echo", password: { from: "file", path: passwordFile } } });
    const err = await failure(cfg);
    expect(err.code).toBe("smtp_auth");
    expect(err.message).toContain("bad password [redacted]");
    expect(describeAll(err)).not.toContain(CANARY);
  });

  test("a rejected recipient (5xx) is not retried; a 4xx is", async () => {
    const gone = await failure(config({ to: ["gone@example.com"] }));
    expect(gone.code).toBe("smtp_rejected");
    expect(gone.noRetry).toBe(true);
    expect(gone.message).toBe(`mail: 127.0.0.1:${ports.plain}: refused for gone@example.com (550 5.1.1 no such user)`);
    const busy = await failure(config({ to: ["busy@example.com"] }));
    expect(busy.code).toBe("smtp_rejected");
    expect(busy.noRetry).toBe(false);
    expect(busy.message).toContain("452");
  });

  test("one recipient refused with a 5xx fails the delivery, not retried, naming it; the others got the mail", async () => {
    const a = alert();
    const err = await failure(config({ to: ["ops@example.com", "gone@example.com", "oncall@example.com"] }), a);
    expect(err.code).toBe(PARTLY_DELIVERED);
    expect(err.noRetry).toBe(true);
    expect(err.message).toBe(`mail: 127.0.0.1:${ports.plain}: refused for gone@example.com (550 5.1.1 no such user); delivered to ops@example.com, oncall@example.com`);
    expect(received.filter((r) => r.raw.includes(a.id)).map((r) => r.to)).toEqual([["ops@example.com", "oncall@example.com"]]);
  });

  test("one recipient refused with a 4xx is retried alone: nobody gets the alert twice", async () => {
    const a = alert();
    const sink = createEmailAlert("mail", config({ to: ["ops@example.com", "grey@example.com"] }), ctx);
    const first = await sink.send(a, AbortSignal.timeout(15_000)).then(() => undefined, (e: unknown) => e as RotaError);
    expect(first?.code).toBe(PARTLY_DELIVERED);
    expect(first?.noRetry).toBe(false);
    expect(first?.message).toBe(`mail: 127.0.0.1:${ports.plain}: deferred for grey@example.com (451 4.7.1 greylisted, come back later); delivered to ops@example.com`);
    await sink.send(a, AbortSignal.timeout(15_000));
    expect(received.filter((r) => r.raw.includes(a.id)).map((r) => r.to)).toEqual([["ops@example.com"], ["grey@example.com"]]);
    // A new alert goes to everyone again.
    const b = alert();
    await sink.send(b, AbortSignal.timeout(15_000));
    expect(arrived(b)!.to).toEqual(["ops@example.com", "grey@example.com"]);
  });

  test("a retry that is refused again still says who has the alert", async () => {
    const a = alert();
    const sink = createEmailAlert("mail", config({ to: ["ops@example.com", "busy@example.com"] }), ctx);
    for (let n = 0; n < 2; n++) {
      const err = await sink.send(a, AbortSignal.timeout(15_000)).then(() => undefined, (e: unknown) => e as RotaError);
      expect(err?.message).toBe(`mail: 127.0.0.1:${ports.plain}: deferred for busy@example.com (452 4.2.2 mailbox full, try later); delivered to ops@example.com`);
      expect(err?.noRetry).toBe(false);
    }
    expect(received.filter((r) => r.raw.includes(a.id)).map((r) => r.to)).toEqual([["ops@example.com"]]);
  });

  test("a password file gone at send time names the key and is not retried", async () => {
    const missing = join(dir, "gone.pass");
    const err = await failure(config({ port: ports.starttls, tls: "starttls", caBundle: tls.caPath, auth: { username: "rota", password: { from: "file", path: missing } } }));
    expect(err.code).toBe("smtp_password");
    expect(err.noRetry).toBe(true);
    expect(err.message).toBe(`mail: 127.0.0.1:${ports.starttls}: password_file: cannot read it: ENOENT: no such file or directory, open '${missing}'`);
  });

  test("a server that is down fails promptly and may be retried", async () => {
    const started = performance.now();
    const err = await failure(config({ port: ports.down }));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(err.code).toBe("smtp_failed");
    expect(err.noRetry).toBe(false);
    expect(err.message).toStartWith(`mail: 127.0.0.1:${ports.down}: not delivered: `);
    expect(err.message).toMatch(/ECONNREFUSED|refused/i);
  });

  test("a server that never answers is ended by the signal with RotaError('aborted')", async () => {
    const controller = new AbortController();
    const pending = failure(config({ port: ports.hung }), alert(), controller.signal);
    // Abort once the connection is open, so the send is stuck waiting for the greeting.
    const connected = hungSockets.length;
    while (hungSockets.length === connected) await new Promise((r) => setImmediate(r));
    controller.abort(new Error("daemon stopping"));
    const err = await pending;
    expect(err.code).toBe("aborted");
    expect(err.message).toBe("mail: cancelled");
  });

  test("an already aborted signal rejects before connecting", async () => {
    const a = alert();
    const err = await failure(config({}), a, AbortSignal.abort());
    expect(err.code).toBe("aborted");
    expect(arrived(a)).toBeUndefined();
  });
});

/** Everything an error can show: its message, its causes' messages and its own fields. */
function describeAll(err: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) parts.push(cur.message, JSON.stringify(cur), String(cur.stack));
  return parts.join("\n");
}

describe("check (rota doctor)", () => {
  const checkCtx = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
  const signal = new AbortController().signal;
  const auth = (path: string) => ({ username: "rota", password: { from: "file" as const, path } });

  test("STARTTLS and AUTH pass, and no message is sent", async () => {
    const before = received.length;
    const sink = createEmailAlert("mail", config({ port: ports.starttls, tls: "starttls", caBundle: tls.caPath, auth: auth(passwordFile) }), ctx);
    expect(await sink.check(signal, checkCtx)).toEqual([{ status: "ok", message: `127.0.0.1:${ports.starttls}: connected, STARTTLS, logged in as rota; no message sent` }]);
    expect(received.length).toBe(before);
  });

  test("a refused login is a FAIL without the password", async () => {
    const sink = createEmailAlert("mail", config({ port: ports.starttls, tls: "starttls", caBundle: tls.caPath, auth: auth(wrongPasswordFile) }), ctx);
    const [r] = await sink.check(signal, checkCtx);
    expect(r!.status).toBe("fail");
    expect(r!.message).toContain("login refused");
    expect(JSON.stringify(r)).not.toContain(CANARY);
  });

  test("a closed port is a FAIL; offline contacts nobody", async () => {
    const [down] = await createEmailAlert("mail", config({ port: ports.down }), ctx).check(signal, checkCtx);
    expect(down!.status).toBe("fail");
    // Doctor sends nothing, so nothing was "not delivered".
    expect(down!.message).toStartWith(`mail: 127.0.0.1:${ports.down}: no SMTP session: `);
    expect(await createEmailAlert("mail", config({ port: ports.down }), ctx).check(signal, { ...checkCtx, offline: true })).toEqual([
      { status: "skip", message: `offline: 127.0.0.1:${ports.down} not contacted` },
    ]);
  });
});
