/** @module planSharing(): a stored plan made of the look's objects when both say the same. */
import { expect, test } from "bun:test";
import type { AriRecord, RenewalPlan } from "../store/types.ts";
import type { Decision } from "./due.ts";
import { planSharing } from "./plan.ts";

const at = new Date("2030-02-01T00:00:00Z");
const notAfter = new Date("2030-03-01T00:00:00Z");
const decision: Decision = { action: "none", reason: "ok", why: "lifetime", moment: { at, reason: "lifetime" }, notAfter, newest: notAfter };
const ari: AriRecord = { certId: "www", window: null, explanationUrl: null, polledAt: at, nextPollAt: at, error: null };
/** As read from the store: its own copies of each value. */
const stored = (over: Partial<RenewalPlan> = {}): RenewalPlan => ({ certId: "www", serial: ["01", "ab"].join(""), renewAt: new Date(at), reason: "lifetime", ari, ...over });

test("a plan saying what the look says: made of the look's Date and serial, its ARI answer kept", () => {
  const look = { decision, latestSerial: "01ab" };
  const plan = stored();
  const shared = planSharing("www", plan, look)!;
  expect(shared).not.toBe(plan);
  expect(shared).toEqual(plan);
  expect(shared.renewAt).toBe(at);
  expect(shared.ari).toBe(ari);
});

test("a plan saying something else, or none, or a look without a moment or a stored certificate: the plan as it was", () => {
  const plan = stored({ renewAt: new Date(at.getTime() + 1) });
  expect(planSharing("www", plan, { decision, latestSerial: "01ab" })).toBe(plan);
  const other = stored({ serial: "02" });
  expect(planSharing("www", other, { decision, latestSerial: "01ab" })).toBe(other);
  expect(planSharing("www", null, { decision, latestSerial: "01ab" })).toBeNull();
  const same = stored();
  expect(planSharing("www", same, { decision: { ...decision, moment: null } as Decision, latestSerial: "01ab" })).toBe(same);
  expect(planSharing("www", same, { decision, latestSerial: null })).toBe(same);
  expect(planSharing("www", same, { decision: null, latestSerial: "01ab" })).toBe(same);
});
