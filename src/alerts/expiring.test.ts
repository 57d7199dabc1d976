import { expect, test } from "bun:test";
import { expiringDays, type ExpiringInput } from "./expiring.ts";

const now = new Date("2030-01-10T00:00:00Z");
const days = (n: number) => new Date(now.getTime() + n * 86_400_000);
const base: ExpiringInput = { now, notAfter: days(5), lifetimeDays: 90, dueSince: days(-1), expiryWarningDays: 14, checkIntervalSeconds: 3600 };

test("close to expiry and due for longer than one check interval: expiring, with whole days left", () => {
  expect(expiringDays(base)).toBe(5);
  expect(expiringDays({ ...base, notAfter: new Date(days(5).getTime() + 3_600_000) })).toBe(5);
  expect(expiringDays({ ...base, notAfter: days(-2) })).toBe(-2);
});

test("more days left than expiry_warning_days: not expiring", () => {
  expect(expiringDays({ ...base, notAfter: days(15) })).toBeNull();
  expect(expiringDays({ ...base, notAfter: days(14) })).toBe(14);
});

test("a short-lived certificate warns only within a third of its lifetime", () => {
  expect(expiringDays({ ...base, lifetimeDays: 6, notAfter: days(3) })).toBeNull();
  expect(expiringDays({ ...base, lifetimeDays: 6, notAfter: days(2) })).toBe(2);
});

test("a 6-day certificate renewed on time never triggers it: due for one interval or less, or not due", () => {
  const short = { ...base, lifetimeDays: 6, notAfter: days(1) };
  expect(expiringDays({ ...short, dueSince: null })).toBeNull();
  expect(expiringDays({ ...short, dueSince: new Date(now.getTime() - 3_600_000) })).toBeNull();
  expect(expiringDays({ ...short, dueSince: new Date(now.getTime() - 3_600_001) })).toBe(1);
});

test("nothing served: no expiry to warn about (renewal.failed says it)", () => {
  expect(expiringDays({ ...base, notAfter: null })).toBeNull();
});

test("an unknown lifetime leaves expiry_warning_days alone", () => {
  expect(expiringDays({ ...base, lifetimeDays: null, notAfter: days(14) })).toBe(14);
});
