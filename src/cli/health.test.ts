/** @module healthProblems: which certs make `rota status --check` exit 1, and the line each gets. */
import { describe, expect, test } from "bun:test";
import type { CertJson } from "../api/json.ts";
import { healthProblems } from "./health.ts";

const now = new Date("2030-01-01T12:00:00Z");
const cert = (over: Partial<CertJson>): CertJson => ({
  id: "www",
  domains: ["www.example.com"],
  domains_unicode: ["www.example.com"],
  status: "ok",
  not_after: "2030-02-01T00:00:00.000Z",
  days_left: 30.5,
  renew_at: null,
  renew_reason: null,
  ari_window: null,
  next_check: null,
  retry_at: null,
  due_since: null,
  last_renewal: null,
  look_error: null,
  targets: [],
  ...over,
});
const failedRun = { id: "r1", trigger: "scheduled", status: "failed", started_at: "2030-01-01T11:00:00.000Z", finished_at: "2030-01-01T11:00:01.000Z", error: "acme le: boom" };

test("ok, due, renewing and checking are fine", () => {
  const certs = [cert({}), cert({ id: "a", status: "due", due_since: "2030-01-01T11:30:00.000Z" }), cert({ id: "b", status: "renewing" }), cert({ id: "c", status: "checking" })];
  expect(healthProblems(certs, 3600, now)).toEqual([]);
});

test("a cert that is fine stays fine whatever its last forced renewal did", () => {
  expect(healthProblems([cert({ last_renewal: failedRun })], 3600, now)).toEqual([]);
});

test("failed, cooldown and missing are problems, one line each, with the last error", () => {
  const certs = [
    cert({ id: "a", status: "failed", last_renewal: failedRun }),
    cert({ id: "b", status: "cooldown", retry_at: "2030-01-01T13:00:00.000Z", last_renewal: failedRun }),
    cert({ id: "c", status: "missing", not_after: null, days_left: null }),
  ];
  expect(healthProblems(certs, 3600, now)).toEqual([
    "a: failed: acme le: boom",
    "b: cooling down until 2030-01-01T13:00:00.000Z: acme le: boom",
    "c: missing: nothing installed",
  ]);
});

test("halted is a problem: the halting run's error says what to do, and so does the line without it", () => {
  const error = "acme le: authorization invalid: connection refused; stopped retrying after 5 authorization failures in a row: fix its DCV, then rota renew www --force";
  expect(healthProblems([cert({ status: "halted", last_renewal: { ...failedRun, error } })], 3600, now)).toEqual([`www: halted: ${error}`]);
  expect(healthProblems([cert({ status: "halted" })], 3600, now)).toEqual(["www: halted: stopped retrying after repeated authorization failures: fix its DCV, then rota renew www --force"]);
});

test("a cert whose target cannot be read is a problem, with the read error, once however long it lasts", () => {
  const long = new Date(now.getTime() - 86_400_000).toISOString();
  const c = cert({ status: "unreadable", not_after: null, days_left: null, due_since: long, look_error: "files: read-back timed out after 30 s" });
  expect(healthProblems([c], 3600, now)).toEqual(["www: unreadable: files: read-back timed out after 30 s"]);
});

test("an expired certificate is a problem", () => {
  expect(healthProblems([cert({ status: "due", not_after: "2030-01-01T00:00:00.000Z", days_left: -0.5, due_since: now.toISOString() })], 3600, now)).toEqual([
    "www: expired at 2030-01-01T00:00:00.000Z",
  ]);
});

test("due for more than two check intervals without a successful renewal is a problem", () => {
  const twoIntervalsAgo = new Date(now.getTime() - 7200_000).toISOString();
  const longer = new Date(now.getTime() - 7201_000).toISOString();
  expect(healthProblems([cert({ status: "due", due_since: twoIntervalsAgo })], 3600, now)).toEqual([]);
  expect(healthProblems([cert({ status: "due", due_since: longer })], 3600, now)).toEqual([
    `www: due since ${longer}, more than two check intervals without a successful renewal`,
  ]);
});

test("a cert already named for its cooldown gets no second, overdue line however long the cooldown", () => {
  const long = new Date(now.getTime() - 86_400_000).toISOString();
  const c = cert({ status: "cooldown", retry_at: "2030-01-01T13:00:00.000Z", due_since: long, last_renewal: failedRun });
  expect(healthProblems([c], 1, now)).toEqual(["www: cooling down until 2030-01-01T13:00:00.000Z: acme le: boom"]);
});

test("a cert ok by one target while another cannot be read is a problem, one line per target", () => {
  const target = (name: string, error: string | null) => ({ name, type: "dsm", serial: error ? null : "0a", not_after: null, matches_latest: error === null, error });
  const c = cert({
    look_error: "dsm nas: 2-step verification code needed (403); fix it, then run `rota dsm login nas`",
    targets: [target("files", null), target("nas", "dsm nas: 2-step verification code needed (403); fix it, then run `rota dsm login nas`")],
  });
  expect(healthProblems([c], 3600, now)).toEqual(["www: target nas: dsm nas: 2-step verification code needed (403); fix it, then run `rota dsm login nas`"]);
  expect(healthProblems([cert({ targets: [target("files", null)] })], 3600, now)).toEqual([]);
});

describe("a renewal under way", () => {
  const running = { id: "r2", trigger: "scheduled", status: "running", started_at: "2030-01-01T09:00:00.000Z", finished_at: null, error: null };
  const longer = new Date(now.getTime() - 7201_000).toISOString();
  const target = (serial: string | null) => ({ name: "files", type: "filesystem", serial, not_after: null, matches_latest: false, error: null });

  test("does not excuse a cert due for more than two check intervals: a worker that hangs would hide it for good", () => {
    const c = cert({ status: "renewing", due_since: longer, renew_reason: "lifetime", last_renewal: running, targets: [target("0a")] });
    expect(healthProblems([c], 3600, now)).toEqual([`www: due since ${longer}, more than two check intervals without a successful renewal; a renewal is under way since 2030-01-01T09:00:00.000Z`]);
  });

  test("is fine within two check intervals while its targets serve something", () => {
    const c = cert({ status: "renewing", due_since: new Date(now.getTime() - 60_000).toISOString(), renew_reason: "lifetime", last_renewal: running, targets: [target("0a")] });
    expect(healthProblems([c], 3600, now)).toEqual([]);
  });

  test("does not excuse a target that serves nothing, at once, once however long", () => {
    const c = cert({ status: "renewing", due_since: longer, renew_reason: "not_served", last_renewal: running, targets: [target(null), { ...target(null), name: "nginx" }] });
    expect(healthProblems([c], 3600, now)).toEqual(["www: missing: nothing installed on files, nginx; a renewal is under way since 2030-01-01T09:00:00.000Z"]);
    expect(healthProblems([cert({ ...c, due_since: now.toISOString(), last_renewal: null })], 3600, now)).toEqual(["www: missing: nothing installed on files, nginx; a renewal is under way"]);
  });

  test("before the first look nothing is known of its targets", () => {
    expect(healthProblems([cert({ status: "renewing", renew_reason: null, targets: [target(null)] })], 3600, now)).toEqual([]);
  });
});
