/** @module What each format puts on the wire: the envelope word for word, and the shapes Slack, Discord and ntfy document. */
import { describe, expect, test } from "bun:test";
import { failedAlert, testAlert } from "./fixtures.ts";
import { render } from "./formats.ts";

describe("json: the versioned envelope", () => {
  test("a failure, every field as docs/alerts.md shows it", () => {
    const r = render(failedAlert(), "json");
    expect(r.headers).toEqual({ "Content-Type": "application/json" });
    expect(JSON.parse(r.body)).toEqual({
      version: 1,
      id: "6f1c1f9e-8d4b-4c1e-9a57-0d3b2b9f6a10",
      type: "renewal.failed",
      severity: "critical",
      occurred_at: "2030-01-01T03:00:00.000Z",
      node: "nas1",
      message: "Renewal of www failed: acme le: connection refused",
      cert: { id: "www", domains: ["www.example.com", "example.com"], not_after: "2030-01-04T00:00:00.000Z", days_left: 3 },
      renewal: { id: "r-42", trigger: "scheduled", status: "failed", failed_step: "order", error: "acme le: connection refused" },
      url: "https://rota.example.com/certs/www",
    });
  });

  test("keys in the documented order, and null where there is no cert, renewal or link", () => {
    const r = render(testAlert(), "json");
    expect(Object.keys(JSON.parse(r.body))).toEqual(["version", "id", "type", "severity", "occurred_at", "node", "message", "cert", "renewal", "url"]);
    expect(JSON.parse(r.body)).toMatchObject({ cert: null, renewal: null, url: null });
  });

  test("a cert with no known expiry has null not_after and days_left", () => {
    const a = failedAlert({ cert: { id: "www", domains: ["www.example.com"], notAfter: null, daysLeft: null } });
    expect(JSON.parse(render(a, "json").body).cert).toEqual({ id: "www", domains: ["www.example.com"], not_after: null, days_left: null });
  });
});

const FAILED_TEXT = [
  "Renewal of www failed: acme le: connection refused",
  "Cert: www: www.example.com, example.com (expires 2030-01-04T00:00:00.000Z, 3 days left)",
  "Renewal r-42 (scheduled): failed at order",
  "Error: acme le: connection refused",
  "Next: retries at 2030-01-01T03:15:00Z",
  "Node: nas1, at 2030-01-01T03:00:00.000Z",
  "https://rota.example.com/certs/www",
].join("\n");

describe("slack: an incoming-webhook message", () => {
  test('{"text": …} with the headline and the facts', () => {
    const r = render(failedAlert(), "slack");
    expect(r.headers).toEqual({ "Content-Type": "application/json" });
    expect(JSON.parse(r.body)).toEqual({ text: `[CRITICAL] rota: renewal.failed for www\n${FAILED_TEXT}` });
  });

  test("&, < and > are escaped, so an error text cannot mention <!channel>", () => {
    const r = render(failedAlert({ message: "a <!channel> & b > c" }), "slack");
    expect(JSON.parse(r.body).text).toStartWith("[CRITICAL] rota: renewal.failed for www\na &lt;!channel&gt; &amp; b &gt; c\n");
  });

  test("a reminder says how many there were, itself included, and since when", () => {
    const r = render(failedAlert({ repeats: { count: 36, since: new Date("2029-12-31T03:00:00.000Z") } }), "slack");
    expect(JSON.parse(r.body).text).toContain("\nReminder: 36 times since 2029-12-31T03:00:00.000Z\n");
  });
});

describe("discord: an execute-webhook message", () => {
  test('{"content": …} that pings nobody', () => {
    const r = render(failedAlert(), "discord");
    expect(r.headers).toEqual({ "Content-Type": "application/json" });
    expect(JSON.parse(r.body)).toEqual({ content: `[CRITICAL] rota: renewal.failed for www\n${FAILED_TEXT}`, allowed_mentions: { parse: [] } });
  });

  test("content is cut to 2000 UTF-16 units, never inside a surrogate pair", () => {
    const error = "😀".repeat(1500);
    const content: string = JSON.parse(render(failedAlert({ renewal: { ...failedAlert().renewal!, error } }), "discord").body).content;
    expect(content.length).toBeLessThanOrEqual(2000);
    expect(content.length).toBeGreaterThan(1990);
    expect(content).toEndWith("😀…");
  });
});

describe("ntfy: a plain-text message with its metadata in headers", () => {
  test("critical: priority 5, a siren tag, the dashboard as the click target", () => {
    const r = render(failedAlert(), "ntfy");
    expect(r.body).toBe(FAILED_TEXT);
    expect(r.headers).toEqual({
      "Content-Type": "text/plain; charset=utf-8",
      Title: "rota: renewal.failed for www",
      Priority: "5",
      Tags: "rotating_light,rota,renewal.failed",
      Click: "https://rota.example.com/certs/www",
    });
  });

  test.each([
    ["warning", "4", "warning"],
    ["info", "3", "information_source"],
  ] as const)("%s: priority %s, tag %s", (severity, priority, emoji) => {
    const r = render({ ...testAlert(), severity }, "ntfy");
    expect(r.headers).toEqual({
      "Content-Type": "text/plain; charset=utf-8",
      Title: "rota: alert.test",
      Priority: priority,
      Tags: `${emoji},rota,alert.test`,
    });
  });

  test("a title beyond ASCII goes as an RFC 2047 encoded word", () => {
    const r = render(failedAlert({ cert: { ...failedAlert().cert!, id: "bücher" } }), "ntfy");
    expect(r.headers.Title).toBe(`=?UTF-8?B?${Buffer.from("rota: renewal.failed for bücher").toString("base64")}?=`);
  });

  test("the body stays within ntfy's 4,096-byte message limit", () => {
    const r = render(failedAlert({ message: "é".repeat(5000) }), "ntfy");
    expect(Buffer.byteLength(r.body)).toBeLessThanOrEqual(4096);
    expect(r.body).toEndWith("é…");
  });
});
