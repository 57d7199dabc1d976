import { expect, test } from "bun:test";
import { buildAlert, type AlertFacts } from "./build.ts";

const at = new Date("2030-01-10T12:00:00Z");
const facts: AlertFacts = {
  id: "a1",
  type: "renewal.failed",
  severity: "critical",
  at,
  node: "nas",
  cert: { id: "www", domains: ["www.example", "example"], notAfter: new Date("2030-01-13T13:00:00Z") },
  renewal: { id: "r1", trigger: "scheduled", status: "failed", failedStep: "submit", error: "acme: connection refused" },
  retryAt: new Date("2030-01-10T12:15:00Z"),
  repeats: null,
  lastHeldError: null,
  detail: null,
  publicUrl: "https://nas.example:8844/",
};

test("a failure: its sentence, the cert's facts, what happens next and the dashboard link", () => {
  expect(buildAlert(facts)).toEqual({
    id: "a1",
    type: "renewal.failed",
    severity: "critical",
    occurredAt: at,
    node: "nas",
    message: "Renewal of www failed (3 days left): acme: connection refused",
    cert: { id: "www", domains: ["www.example", "example"], notAfter: new Date("2030-01-13T13:00:00Z"), daysLeft: 3 },
    renewal: { id: "r1", trigger: "scheduled", status: "failed", failedStep: "submit", error: "acme: connection refused" },
    next: "retries at 2030-01-10T12:15:00.000Z",
    repeats: null,
    url: "https://nas.example:8844/certs/www",
  });
});

test("a reminder says how many failures since when, and the last error", () => {
  const a = buildAlert({ ...facts, repeats: { count: 37, since: new Date("2030-01-09T03:00:00Z") }, lastHeldError: "acme: timeout", renewal: { ...facts.renewal!, error: "acme: timeout" } });
  expect(a.message).toBe("Renewal of www failed 37 times since 2030-01-09 03:00 UTC (3 days left); last error: acme: timeout");
});

test("expiring, recovered and test alerts read as sentences; no public_url, no link; nothing planned, no next", () => {
  expect(buildAlert({ ...facts, type: "cert.expiring", renewal: null, retryAt: null, publicUrl: undefined })).toMatchObject({
    message: "www expires 2030-01-13 13:00 UTC (3 days left) and has not been renewed",
    next: null,
    url: null,
  });
  expect(buildAlert({ ...facts, type: "cert.recovered", severity: "info", retryAt: null }).message).toBe("www renewed successfully after failing (3 days left)");
  expect(buildAlert({ ...facts, type: "alert.test", cert: null, renewal: null, retryAt: null }).message).toBe("Test alert from rota on nas");
  expect(buildAlert({ ...facts, type: "target.action_required", severity: "critical", renewal: null, retryAt: null, detail: "nas: dsm nas: device token rejected (expired or revoked); run rota dsm login nas" }).message).toBe(
    "Install target of www needs a person: nas: dsm nas: device token rejected (expired or revoked); run rota dsm login nas",
  );
  expect(buildAlert({ ...facts, type: "renewal.failed", cert: { id: "new", domains: ["new.example"], notAfter: null } }).message).toBe("Renewal of new failed: acme: connection refused");
});
