/** @module Alerts the webhook tests render and send: a failure with every field set, and a test alert with none. */
import type { Alert } from "../../types.ts";

export function failedAlert(over: Partial<Alert> = {}): Alert {
  return {
    id: "6f1c1f9e-8d4b-4c1e-9a57-0d3b2b9f6a10",
    type: "renewal.failed",
    severity: "critical",
    occurredAt: new Date("2030-01-01T03:00:00.000Z"),
    node: "nas1",
    message: "Renewal of www failed: acme le: connection refused",
    cert: { id: "www", domains: ["www.example.com", "example.com"], notAfter: new Date("2030-01-04T00:00:00.000Z"), daysLeft: 3 },
    renewal: { id: "r-42", trigger: "scheduled", status: "failed", failedStep: "order", error: "acme le: connection refused" },
    next: "retries at 2030-01-01T03:15:00Z",
    repeats: null,
    url: "https://rota.example.com/certs/www",
    ...over,
  };
}

export function testAlert(): Alert {
  return {
    id: "0b7d5a3e-1f2c-4e5d-8a9b-c0d1e2f3a4b5",
    type: "alert.test",
    severity: "info",
    occurredAt: new Date("2030-01-01T03:00:00.000Z"),
    node: "nas1",
    message: "A test alert from rota",
    cert: null,
    renewal: null,
    next: null,
    repeats: null,
    url: null,
  };
}
