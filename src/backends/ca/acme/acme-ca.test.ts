/**
 * @module AcmeCa's newOrder against a fake ACME server: `replaces` dropped once for the refusals
 * an order without it gets past (and only those), the first problem surfaced without a resend
 * (pebble 2.10's serverInternal), and `profile` sent only when the directory offers it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { systemClock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { createLogger } from "../../../log.ts";
import { makeTempDir, removeTempDir } from "../../../../test/harness/tmp.ts";
import { startFakeAcmeOrders, type FakeAcmeOrders, type OrderReply } from "../../../../test/fakes/acme-orders.ts";
import type { CABackend } from "../../types.ts";
import { createAcmeCa } from "./acme-ca.ts";

const CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
let fake: FakeAcmeOrders;
let dir: string;
let ca: CABackend;

beforeAll(() => {
  fake = startFakeAcmeOrders();
  dir = makeTempDir("rota-acme-ca-");
});
afterAll(async () => {
  await fake.stop();
  removeTempDir(dir);
});
beforeEach(() => {
  fake.orders.length = 0;
  fake.script = [];
  fake.profiles = null;
  // A new client each test: acme-client keeps the directory (and so meta.profiles) for a day.
  const ctx = { stateDir: dir, clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] };
  ca = createAcmeCa("le", { directoryUrl: fake.directoryUrl, email: undefined, caBundle: undefined, eab: undefined }, ctx);
});

/** Profiles are read at the first request of the test's new client: set them before submitting. */
const submit = (extra: { replaces?: string; certOptions?: unknown } = {}) =>
  ca.submit({ certId: "www", domains: ["www.example.test"], csrPem: "", preferredKinds: ["http-01"], ...extra }, new AbortController().signal);

describe("replaces", () => {
  const retried: Array<[string, OrderReply, string]> = [
    ["alreadyReplaced", { status: 409, type: "alreadyReplaced" }, "alreadyReplaced"],
    ["pebble ≤ 2.9's HTTP 409 malformed", { status: 409, type: "malformed" }, "HTTP 409 malformed"],
    ["unauthorized", { status: 403, type: "unauthorized" }, "unauthorized"],
    ["serverInternal (pebble 2.10, a serial with a 0x00 byte)", { status: 500, type: "serverInternal" }, "serverInternal"],
  ];
  for (const [name, reply, said] of retried) {
    test(`${name}: ordered once more without it, and the note says so`, async () => {
      fake.script = [reply];
      const r = await submit({ replaces: CERT_ID });
      expect(fake.orders.map((o) => o.replaces)).toEqual([CERT_ID, undefined]);
      expect(r.note).toBe(`le (replaces refused (${said}), ordered without it)`);
    });
  }

  test("accepted: the note names it, cut", async () => {
    const r = await submit({ replaces: CERT_ID });
    expect(fake.orders).toEqual([{ identifiers: [{ type: "dns", value: "www.example.test" }], replaces: CERT_ID }]);
    expect(r.note).toBe("le (replaces aYhb….AIdlQyE)");
  });

  test("another refusal fails the order, once, naming the problem", async () => {
    fake.script = [{ status: 400, type: "rejectedIdentifier", detail: "no such name" }];
    const err = await submit({ replaces: CERT_ID }).catch((e: unknown) => e);
    expect(fake.orders).toHaveLength(1);
    expect(err).toBeInstanceOf(RotaError);
    expect([(err as RotaError).message, (err as RotaError).acmeType]).toEqual(["acme le: new order: no such name (HTTP 400 rejectedIdentifier)", "rejectedIdentifier"]);
  });

  test("retried once only: a second refusal fails", async () => {
    fake.script = [{ status: 409, type: "alreadyReplaced" }, { status: 500, type: "serverInternal", detail: "boom" }];
    const err = (await submit({ replaces: CERT_ID }).catch((e: unknown) => e)) as RotaError;
    expect(fake.orders.map((o) => o.replaces)).toEqual([CERT_ID, undefined]);
    expect(err.message).toBe("acme le: new order: boom (HTTP 500 serverInternal)");
  });

  test("without replaces, a serverInternal is not retried", async () => {
    fake.script = [{ status: 500, type: "serverInternal" }];
    await expect(submit()).rejects.toThrow("(HTTP 500 serverInternal)");
    expect(fake.orders).toHaveLength(1);
  });
});

describe("profile", () => {
  test("sent when the directory offers it; the note names it", async () => {
    fake.profiles = { classic: "90 days", shortlived: "160 hours" };
    const r = await submit({ certOptions: { profile: "shortlived" }, replaces: CERT_ID });
    expect(fake.orders).toEqual([{ identifiers: [{ type: "dns", value: "www.example.test" }], profile: "shortlived", replaces: CERT_ID }]);
    expect(r.note).toBe("le (profile shortlived, replaces aYhb….AIdlQyE)");
  });

  test("not offered: no order, no retry, naming what is offered", async () => {
    fake.profiles = { classic: "90 days", shortlived: "160 hours" };
    const err = (await submit({ certOptions: { profile: "tlsserver" } }).catch((e: unknown) => e)) as RotaError;
    expect([err.message, err.noRetry, fake.orders.length]).toEqual(['acme le: profile "tlsserver" is not offered; the CA offers: classic, shortlived', true, 0]);
  });

  test("a CA with no profiles says so", async () => {
    const err = (await submit({ certOptions: { profile: "tlsserver" } }).catch((e: unknown) => e)) as RotaError;
    expect([err.message, err.noRetry]).toEqual(['acme le: profile "tlsserver" is not offered; the CA offers no profiles', true]);
  });

  test("invalidProfile from the CA is as final", async () => {
    fake.profiles = { classic: "90 days" };
    fake.script = [{ status: 400, type: "invalidProfile", detail: "classic is closed" }];
    const err = (await submit({ certOptions: { profile: "classic" } }).catch((e: unknown) => e)) as RotaError;
    expect([err.message, err.noRetry, err.acmeType]).toEqual(['acme le: profile "classic": classic is closed (HTTP 400 invalidProfile)', true, "invalidProfile"]);
  });

  test("no profile option: none sent, the note is the CA's name", async () => {
    fake.profiles = { classic: "90 days" };
    const r = await submit({ certOptions: { profile: undefined } });
    expect(fake.orders).toEqual([{ identifiers: [{ type: "dns", value: "www.example.test" }] }]);
    expect(r.note).toBe("le");
  });
});
