/** @module The daemon applies a renewal process's store writes in order, and a write it cannot apply is the renewal's failure, not lost. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { createConsola } from "consola";
import { describeError } from "../errors.ts";
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

beforeEach(() => {
  store = new SqliteAuditStore(":memory:");
  logged = [];
});
afterEach(() => store.close());

test("writes land in the store in the order sent; nothing failed", async () => {
  const writes = new StoreWrites(store, "app", log);
  writes.apply({ store: "issued", issued: issued("0a") });
  writes.apply({ store: "installed", installed: installed("0a") });
  expect(await writes.settled()).toBeUndefined();
  expect(await store.latestIssued("app")).toEqual(issued("0a"));
  expect((await store.lastInstalled("app", "disk"))?.serial).toBe("0a");
  expect(logged).toEqual([]);
});

test("a write the store refuses: the first failure, with its cause, is the renewal's; the writes after it are still applied", async () => {
  const writes = new StoreWrites(store, "app", log);
  writes.apply({ store: "issued", issued: { ...issued("0a"), notAfter: new Date(Number.NaN) } });
  writes.apply({ store: "issued", issued: issued("0b") });
  const failure = await writes.settled();
  expect(failure?.code).toBe("store_failed");
  expect(describeError(failure)).toStartWith("pipeline: the audit store could not record issued serial 0a: ");
  expect((await store.latestIssued("app"))?.serial).toBe("0b");
  expect(logged).toEqual([`error: ${describeError(failure)}`]);
});

test("a write for another cert is refused, as is one that could not be read", async () => {
  const other = new StoreWrites(store, "app", log);
  other.apply({ store: "issued", issued: issued("0a", "www") });
  expect(describeError(await other.settled())).toBe("pipeline: the audit store could not record issued serial 0a: pipeline: the renewal process of app wrote for www");
  expect(await store.latestIssued("www")).toBeNull();

  const garbled = new StoreWrites(store, "app", log);
  garbled.unreadable(new Error("bad line"));
  expect(describeError(await garbled.settled())).toBe("pipeline: the audit store could not record a write: bad line");
});
