/** @module The email an alert becomes: subjects word for word, the same facts in both parts, escaping. */
import { describe, expect, test } from "bun:test";
import type { Alert } from "../../types.ts";
import { escapeHtml, renderEmail, subjectOf } from "./message.ts";

function alert(over: Partial<Alert> = {}): Alert {
  return {
    id: "4b7c1f2e-0000-4000-8000-000000000001",
    type: "renewal.failed",
    severity: "critical",
    occurredAt: new Date("2026-12-01T04:00:00Z"),
    node: "node-1",
    message: "Renewal of www failed: pebble: connection refused",
    cert: { id: "www", domains: ["www.example.com", "example.com"], notAfter: new Date("2026-12-04T03:00:00Z"), daysLeft: 3 },
    renewal: { id: "r-42", trigger: "schedule", status: "failed", failedStep: "order", error: "pebble: connection refused" },
    next: "retries at 2026-12-01 04:15 UTC",
    repeats: null,
    url: null,
    ...over,
  };
}

describe("subject", () => {
  test.each([
    ["[rota] www: renewal failed (3 days left)", alert()],
    ["[rota] api: expiring (1 day left)", alert({ type: "cert.expiring", cert: { id: "api", domains: ["api.example"], notAfter: null, daysLeft: 1 } })],
    ["[rota] api: expiring (expired)", alert({ type: "cert.expiring", cert: { id: "api", domains: ["api.example"], notAfter: null, daysLeft: -2 } })],
    ["[rota] www: renewal recovered", alert({ type: "cert.recovered", cert: { id: "www", domains: [], notAfter: null, daysLeft: null } })],
    ["[rota] test alert", alert({ type: "alert.test", cert: null, renewal: null })],
    ["[rota] store.unreachable", alert({ type: "store.unreachable", cert: null })],
  ])("%s", (subject, a) => {
    expect(subjectOf(a, "[rota]")).toBe(subject);
  });

  test("the prefix is the config's", () => {
    expect(subjectOf(alert(), "[prod certs]")).toBe("[prod certs] www: renewal failed (3 days left)");
  });

  test("control characters in a cert id become spaces: no header can be forged", () => {
    const a = alert({ cert: { id: "www\r\nBcc: x@example.com\u0000", domains: [], notAfter: null, daysLeft: null } });
    expect(subjectOf(a, "[rota]")).toBe("[rota] www Bcc: x@example.com : renewal failed");
  });
});

describe("body", () => {
  const url = "https://rota.example.com/certs/www";
  const full = renderEmail(alert({ url, renewal: { id: "r-42", trigger: "schedule", status: "failed", failedStep: "order", error: "pebble: connection refused\n  at step order\n  after 3 tries" } }), "[rota]");

  test("the plain-text part, word for word", () => {
    expect(full.text).toBe(
      [
        "Renewal of www failed: pebble: connection refused",
        "",
        "Certificate: www",
        "Domains:     www.example.com, example.com",
        "Expires:     2026-12-04 03:00 UTC (3 days left)",
        "Failed step: order",
        "Error:",
        "  pebble: connection refused",
        "    at step order",
        "    after 3 tries",
        "When:        2026-12-01 04:00 UTC",
        "Renewal:     r-42 (schedule, failed)",
        "Node:        node-1",
        "Next:        retries at 2026-12-01 04:15 UTC",
        `Dashboard:   ${url}`,
        "",
        "-- ",
        "Sent by rota (renewal.failed, critical); alert id 4b7c1f2e-0000-4000-8000-000000000001.",
        "",
      ].join("\n"),
    );
  });

  test("the HTML part holds the same facts, the error in full and the dashboard link", () => {
    for (const fact of ["Renewal of www failed: pebble: connection refused", "www.example.com, example.com", "2026-12-04 03:00 UTC (3 days left)", "order", "2026-12-01 04:00 UTC", "r-42 (schedule, failed)", "node-1", "retries at 2026-12-01 04:15 UTC"]) {
      expect(full.html).toContain(fact);
    }
    expect(full.html).toContain("<pre style=\"margin:0;white-space:pre-wrap\">pebble: connection refused\n  at step order\n  after 3 tries</pre>");
    expect(full.html).toContain(`<a href="${url}">${url}</a>`);
  });

  test("a reminder says how many were held back and since when", () => {
    const m = renderEmail(alert({ repeats: { count: 37, since: new Date("2026-12-01T03:00:00Z") } }), "[rota]");
    expect(m.text).toStartWith("Renewal of www failed: pebble: connection refused\nFailed 37 times since 2026-12-01 03:00 UTC.\n\n");
    expect(m.html).toContain("<p>Failed 37 times since 2026-12-01 03:00 UTC.</p>");
    const expiring = renderEmail(alert({ type: "cert.expiring", repeats: { count: 1, since: new Date("2026-12-01T03:00:00Z") } }), "[rota]");
    expect(expiring.text).toContain("Reported 1 time since 2026-12-01 03:00 UTC.");
  });

  test("facts that are unknown are left out, not shown empty", () => {
    const m = renderEmail(alert({ type: "alert.test", severity: "info", message: "Test alert from rota", cert: null, renewal: null, next: null }), "[rota]");
    expect(m.text).toBe(["Test alert from rota", "", "When: 2026-12-01 04:00 UTC", "Node: node-1", "", "-- ", "Sent by rota (alert.test, info); alert id 4b7c1f2e-0000-4000-8000-000000000001.", ""].join("\n"));
  });
});

describe("escaping in the HTML part", () => {
  test("every value is escaped: a <script> in the error, cert id or message stays text", () => {
    const evil = `<script>alert("x")</script>`;
    const m = renderEmail(
      alert({
        message: evil,
        node: `n&'"`,
        cert: { id: evil, domains: [evil], notAfter: null, daysLeft: null },
        renewal: { id: evil, trigger: evil, status: evil, failedStep: evil, error: evil },
        next: evil,
        url: `https://x.example/"><script>`,
      }),
      "[rota]",
    );
    expect(m.html).not.toContain("<script>");
    expect(m.html).toContain("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;");
    expect(m.html).toContain("n&#38;&#39;&#34;");
    expect(m.html).toContain(`<a href="https://x.example/&#34;&#62;&#60;script&#62;">`);
  });

  test("only an http(s) dashboard URL becomes a link", () => {
    const m = renderEmail(alert({ url: "javascript:alert(1)" }), "[rota]");
    expect(m.html).not.toContain("<a ");
    expect(m.html).toContain("<td>javascript:alert(1)</td>");
  });

  test("escapeHtml covers the five characters that matter", () => {
    expect(escapeHtml(`&<>"'`)).toBe("&#38;&#60;&#62;&#34;&#39;");
  });
});
