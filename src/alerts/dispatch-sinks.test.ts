/**
 * @module The dispatcher with the real sinks against loopback receivers: each sink's
 * RotaErrors read as the dispatcher's contract says (retried, waited for, or final), and a
 * retry carries the same delivery id. The sinks' own tests check their errors alone.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";
import { freePort } from "../../test/harness/ports.ts";
import { createEmailAlert } from "../backends/alert/email/email.ts";
import { failedAlert } from "../backends/alert/webhook/fixtures.ts";
import { createWebhookAlert } from "../backends/alert/webhook/webhook.ts";
import type { AlertBackend } from "../backends/types.ts";
import { createLogger } from "../log.ts";
import type { AlertDelivery } from "../store/types.ts";
import { FakeClock } from "../testing/fake-clock.ts";
import { DISPATCH_DEFAULTS, Dispatcher } from "./dispatcher.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-dispatch-sinks-"));
const passwordFile = join(dir, "smtp.pass");
writeFileSync(passwordFile, "wrong\n");
/** What the receiver answers, one reply per request, in order. */
let replies: Array<() => Response> = [];
/** Each request's headers, and when the sink sent it by the fake clock (its signature's time), from the test's start. */
const requests: Array<{ headers: Headers; at: number }> = [];
const START = Date.parse("2030-01-01T03:00:00Z");
const SECRET_ENV = "ROTA_DISPATCH_SINKS_SECRET";
process.env[SECRET_ENV] = "s3cret";
let receiver: ReturnType<typeof Bun.serve>;
let smtp: SMTPServer;
let smtpPort: number;

beforeAll(async () => {
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const t = Number(/t=(\d+)/.exec(req.headers.get("x-rota-signature") ?? "")?.[1]);
      requests.push({ headers: req.headers, at: t * 1000 - START });
      return (replies.shift() ?? (() => new Response(null, { status: 204 })))();
    },
  });
  smtpPort = await freePort();
  smtp = new SMTPServer({
    secure: false,
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    logger: false,
    onAuth: (_auth, _session, cb) => cb(new Error("Invalid login")),
  });
  await new Promise<void>((resolve) => smtp.listen(smtpPort, "127.0.0.1", () => resolve()));
});

afterAll(async () => {
  receiver.stop(true);
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
  delete process.env[SECRET_ENV];
});

function setup() {
  const clock = new FakeClock(new Date(START));
  requests.length = 0;
  const records: AlertDelivery[] = [];
  const log = createLogger({ level: "silent" });
  const dispatcher = new Dispatcher({ store: { recordDelivery: async (d) => void records.push(d) }, clock, log, ...DISPATCH_DEFAULTS });
  const ctx = { stateDir: dir, clock, log, emit: () => {}, withheldEnv: () => [] };
  const webhook = createWebhookAlert("hook", { url: `http://127.0.0.1:${receiver.port}/rota`, method: "POST", timeoutSeconds: 10, headers: {}, bearerToken: undefined, secret: { from: "env", name: SECRET_ENV }, caBundle: undefined, format: "json" }, ctx);
  const email = (port: number) =>
    createEmailAlert("mail", { host: "127.0.0.1", port, tls: "none", caBundle: undefined, auth: { username: "rota", password: { from: "file", path: passwordFile } }, from: "rota@example.test", to: ["ops@example.test"], subjectPrefix: "[rota]" }, ctx);
  return { clock, records, dispatcher, webhook, email };
}

/** Waits on real I/O until `n` attempts are recorded; the fake clock only moves when told. */
async function recorded(records: AlertDelivery[], n: number): Promise<string[]> {
  for (const deadline = Date.now() + 10_000; records.length < n; await Bun.sleep(5)) {
    if (Date.now() > deadline) throw new Error(`${records.length} of ${n} attempts recorded: ${JSON.stringify(records)}`);
  }
  return records.map((r) => `${r.sink} ${r.outcome} ${r.attempts}`);
}

function deliver(d: Dispatcher, sink: AlertBackend): void {
  d.enqueue(failedAlert({ id: crypto.randomUUID() }), sink);
}

test("webhook 500 then 200: retried after 5 s with the same delivery id, then delivered", async () => {
  const { clock, records, dispatcher, webhook } = setup();
  replies = [() => new Response("busy", { status: 500 })];
  deliver(dispatcher, webhook);
  expect(await recorded(records, 1)).toEqual(["hook retrying 1"]);
  expect(records[0]!.error).toContain("HTTP 500: busy");
  await clock.advance(5_000);
  expect(await recorded(records, 2)).toEqual(["hook retrying 1", "hook delivered 2"]);
  expect(requests.map((r) => [r.at, r.headers.get("x-rota-delivery")])).toEqual([
    [0, records[0]!.alertId],
    [5_000, records[0]!.alertId],
  ]);
});

test("webhook 429 with Retry-After: the next attempt waits that long, not the backoff", async () => {
  const { clock, records, dispatcher, webhook } = setup();
  replies = [() => new Response(null, { status: 429, headers: { "Retry-After": "42" } })];
  deliver(dispatcher, webhook);
  await recorded(records, 1);
  await clock.advance(42_000);
  expect(await recorded(records, 2)).toEqual(["hook retrying 1", "hook delivered 2"]);
  expect(requests.map((r) => r.at)).toEqual([0, 42_000]);
});

test("webhook 404: final at the first attempt (the receiver said no)", async () => {
  const { clock, records, dispatcher, webhook } = setup();
  replies = [() => new Response("no such hook", { status: 404 })];
  deliver(dispatcher, webhook);
  expect(await recorded(records, 1)).toEqual(["hook failed 1"]);
  await clock.advance(60_000);
  expect(requests.length).toBe(1);
  await dispatcher.stop(0);
});

test("email login refused: final at the first attempt", async () => {
  const { records, dispatcher, email } = setup();
  deliver(dispatcher, email(smtpPort));
  expect(await recorded(records, 1)).toEqual(["mail failed 1"]);
  expect(records[0]!.error).toContain("login refused");
});

test("email server down: 3 attempts, 5 s then 10 s apart", async () => {
  const { clock, records, dispatcher, email } = setup();
  deliver(dispatcher, email(await freePort()));
  expect(await recorded(records, 1)).toEqual(["mail retrying 1"]);
  await clock.advance(5_000);
  await recorded(records, 2);
  await clock.advance(10_000);
  expect(await recorded(records, 3)).toEqual(["mail retrying 1", "mail retrying 2", "mail failed 3"]);
});
