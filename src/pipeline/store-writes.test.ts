/** @module The daemon applies a renewal process's store writes in order, and a write it cannot apply is the renewal's failure, not lost. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import { RotaError, describeError } from "../errors.ts";
import type { DaemonLine } from "./child-protocol.ts";
import { SqliteAuditStore } from "../store/sqlite.ts";
import type { IssuedCert } from "../store/types.ts";
import { StoreWrites } from "./store-writes.ts";

let store: SqliteAuditStore;
let logged: string[];
const log = createConsola({ level: 3, reporters: [{ log: (o) => void logged.push(`${o.type}: ${o.args.join(" ")}`) }] });

const issued = (serial: string, certId = "app"): IssuedCert => ({
  certId,
  renewalId: "r",
  leafPem: "L",
  chainPem: "C",
  serial,
  notBefore: new Date("2030-01-01T00:00:00Z"),
  notAfter: new Date("2030-04-01T00:00:00Z"),
  issuedAt: new Date("2030-01-01T00:00:05Z"),
});
const installed = (serial: string) => ({ certId: "app", target: "disk", serial, installedAt: new Date("2030-01-01T00:00:06Z") });

const noReply = () => {
  throw new Error("an install record is never answered");
};
/** The answers the daemon sent, in order. */
let replies: DaemonLine[];
const reply = (line: DaemonLine) => void replies.push(line);

beforeEach(() => {
  store = new SqliteAuditStore(":memory:");
  logged = [];
  replies = [];
});
afterEach(() => store.close());

test("writes land in the store in the order sent; nothing failed; the issued certificate is answered, the install record is not", async () => {
  const writes = new StoreWrites(store, "app", log);
  writes.apply({ store: "issued", issued: issued("0a") }, reply);
  writes.apply({ store: "installed", installed: installed("0a") }, noReply);
  expect(await writes.settled()).toBeUndefined();
  expect(replies).toEqual([{ stored: { renewalId: "r", serial: "0a", error: null } }]);
  expect(await store.latestIssued("app")).toEqual(issued("0a"));
  expect((await store.lastInstalled("app", "disk"))?.serial).toBe("0a");
  expect(logged).toEqual([]);
});

test("a write the store refuses: the first failure, with its cause, is the renewal's; the writes after it are still applied", async () => {
  const writes = new StoreWrites(store, "app", log);
  writes.apply({ store: "issued", issued: { ...issued("0a"), notAfter: new Date(Number.NaN) } }, reply);
  writes.apply({ store: "issued", issued: issued("0b") }, reply);
  const failure = await writes.settled();
  // The refused one is answered with the store's error: its renewal installs nothing.
  expect(replies.map((r) => "stored" in r && [r.stored.serial, r.stored.error === null])).toEqual([
    ["0a", false],
    ["0b", true],
  ]);
  expect(failure?.code).toBe("store_failed");
  expect(describeError(failure)).toStartWith("pipeline: the audit store could not record issued serial 0a: ");
  expect((await store.latestIssued("app"))?.serial).toBe("0b");
  expect(logged).toEqual([`error: ${describeError(failure)}`]);
});

test("a write for another cert is refused, as is one that could not be read", async () => {
  const other = new StoreWrites(store, "app", log);
  other.apply({ store: "issued", issued: issued("0a", "www") }, reply);
  expect(describeError(await other.settled())).toBe("pipeline: the audit store could not record issued serial 0a: pipeline: the renewal process of app wrote for www");
  expect(await store.latestIssued("www")).toBeNull();

  const garbled = new StoreWrites(store, "app", log);
  garbled.unreadable(new Error("bad line"));
  expect(describeError(await garbled.settled())).toBe("pipeline: the audit store could not record a write: bad line");
});

describe("a fenced write (cluster mode)", () => {
  const FENCE = { nodeId: "nas-1", instance: "i-1", term: 7 };

  test("goes to the store with its fence and is answered once stored", async () => {
    const fences: unknown[] = [];
    const fenced = { latestIssued: store.latestIssued.bind(store), saveInstalled: store.saveInstalled.bind(store), saveIssued: async (_: IssuedCert, f?: unknown) => void fences.push(f) };
    const replies: DaemonLine[] = [];
    const writes = new StoreWrites(fenced, "app", log);
    writes.apply({ store: "issued", issued: issued("0a"), fence: FENCE }, (l) => void replies.push(l));
    expect(await writes.settled()).toBeUndefined();
    expect(fences).toEqual([FENCE]);
    expect(replies).toEqual([{ stored: { renewalId: "r", serial: "0a", error: null } }]);
  });

  test("refused: answered with the store's own error and code, and the renewal's failure", async () => {
    const refusing = {
      latestIssued: store.latestIssued.bind(store),
      saveInstalled: store.saveInstalled.bind(store),
      saveIssued: async () => Promise.reject(new RotaError("fenced", "cluster: not stored: nas-1 no longer holds the lease at term 7", { noRetry: true })),
    };
    const replies: DaemonLine[] = [];
    const writes = new StoreWrites(refusing, "app", log);
    writes.apply({ store: "issued", issued: issued("0a"), fence: FENCE }, (l) => void replies.push(l));
    expect((await writes.settled())?.code).toBe("store_failed");
    expect(replies).toEqual([{ stored: { renewalId: "r", serial: "0a", error: { code: "fenced", message: "cluster: not stored: nas-1 no longer holds the lease at term 7", noRetry: true, retryAfterSeconds: undefined } } }]);
  });
});
