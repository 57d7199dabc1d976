import { expect, test } from "bun:test";
import { EventBus } from "../events.ts";
import { collectAfterRenewals } from "./collect.ts";

test("a collection after every `every` renewals ended, whatever their end; other events do not count", () => {
  const bus = new EventBus(() => {});
  let collections = 0;
  const stop = collectAfterRenewals(bus, () => collections++, 3);
  const at = new Date(0);
  const ends = [
    { type: "renewal.succeeded", renewalId: "r1", certId: "a", at, serial: "01", notAfter: at },
    { type: "renewal.failed", renewalId: "r2", certId: "b", at, error: "x", interrupted: false, retryAt: null },
    { type: "renewal.failed", renewalId: "r3", certId: "c", at, error: "x", interrupted: true, retryAt: null },
  ] as const;
  bus.emit({ type: "renewal.started", renewalId: "r1", certId: "a", trigger: "startup", installOnly: false, reason: null, at });
  for (const e of ends.slice(0, 2)) bus.emit(e);
  expect(collections).toBe(0);
  bus.emit(ends[2]);
  expect(collections).toBe(1);
  stop();
  for (const e of ends) bus.emit(e);
  expect(collections).toBe(1);
});
