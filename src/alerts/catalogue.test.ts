import { expect, test } from "bun:test";
import { ALERT_EVENTS, atLeast, DEFAULT_ALERT_EVENTS, FAILURE_EVENTS, severityOf } from "./catalogue.ts";

test("failures are critical within expiry_warning_days or with no expiry known, warnings before", () => {
  expect(severityOf("renewal.failed", 3, 14)).toBe("critical");
  expect(severityOf("renewal.failed", 14, 14)).toBe("critical");
  expect(severityOf("renewal.failed", 15, 14)).toBe("warning");
  expect(severityOf("renewal.failed", null, 14)).toBe("critical");
  expect(severityOf("cert.expiring", 20, 30)).toBe("critical");
});

test("recoveries, successes and tests inform", () => {
  for (const type of ["cert.recovered", "renewal.succeeded", "alert.test"]) expect(severityOf(type, 1, 14)).toBe("info");
});

test("a target that needs a person is critical however far expiry is, in every sink's defaults, and not held by the repeat limit", () => {
  expect(severityOf("target.action_required", 80, 14)).toBe("critical");
  expect(severityOf("target.action_required", null, 14)).toBe("critical");
  expect(DEFAULT_ALERT_EVENTS).toContain("target.action_required");
  expect(FAILURE_EVENTS.has("target.action_required")).toBe(false);
});

test("a halt is critical however far expiry is, in every sink's defaults, and not held by the repeat limit; a resume informs", () => {
  expect(severityOf("cert.halted", 80, 14)).toBe("critical");
  expect(DEFAULT_ALERT_EVENTS).toContain("cert.halted");
  expect(FAILURE_EVENTS.has("cert.halted")).toBe(false);
  expect(severityOf("cert.resumed", 1, 14)).toBe("info");
  expect(DEFAULT_ALERT_EVENTS).not.toContain("cert.resumed");
});

test("min_severity keeps what is at least as severe", () => {
  expect(atLeast("critical", "warning")).toBe(true);
  expect(atLeast("warning", "warning")).toBe(true);
  expect(atLeast("info", "warning")).toBe(false);
});

test("cluster: a lost lease and a refused install warn, a new leader informs; all three in the defaults, none held by the repeat limit", () => {
  expect(severityOf("cluster.leader_lost", null, 14)).toBe("warning");
  expect(severityOf("cluster.install_refused", 80, 14)).toBe("warning");
  expect(severityOf("cluster.install_refused", 3, 14)).toBe("warning");
  expect(severityOf("cluster.leader_acquired", null, 14)).toBe("info");
  for (const type of ["cluster.leader_acquired", "cluster.leader_lost", "cluster.install_refused"] as const) {
    expect(ALERT_EVENTS).toContain(type);
    expect(DEFAULT_ALERT_EVENTS).toContain(type);
    expect(FAILURE_EVENTS.has(type)).toBe(false);
  }
});
