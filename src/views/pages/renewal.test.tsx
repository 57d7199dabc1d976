/** @module The renewal page rendered to a string: the step timeline, its bars, a running renewal, escaping, and the empty state. */
import { describe, expect, test } from "bun:test";
import type { Renewal } from "../../store/types.ts";
import { RenewalPage, barClass, type RenewalPageData } from "./renewal.tsx";

const START = new Date("2030-01-01T00:00:00Z");
const at = (ms: number) => new Date(START.getTime() + ms);
const EVIL = `<script>alert("x")</script>'&`;

function data(over: Partial<Renewal> = {}, certConfigured = true): RenewalPageData {
  const renewal: Renewal = {
    id: "r1",
    certId: "www",
    trigger: "manual",
    installOnly: false,
    reason: "forced",
    status: "succeeded",
    startedAt: START,
    finishedAt: at(4000),
    error: null,
    node: null,
    events: [
      { step: "key", at: at(10), status: "ok", message: "reused the key at /etc/ssl/www.key", durationMs: 10 },
      { step: "publish", at: at(400), status: "skipped", message: "", durationMs: 0 },
      { step: "await_issuance", at: at(3000), status: "ok", message: "issued", durationMs: 2000 },
      { step: "install", at: at(4000), status: "ok", message: "files: installed", durationMs: 1000 },
    ],
    ...over,
  };
  return { renewal, certConfigured, now: at(5000), self: "/renewals/r1" };
}

const render = (d: RenewalPageData) => (<RenewalPage d={d} csrf="t" />).toString() as string;

describe("bars", () => {
  test("the longest step is full width, the others in proportion to it in steps of 5 %", () => {
    expect(barClass(2000, 2000)).toBe("w100");
    expect(barClass(1000, 2000)).toBe("w50");
    expect(barClass(10, 2000)).toBe("w5"); // a step that took any time stays visible
    expect(barClass(0, 2000)).toBe("w0");
    expect(barClass(0, 0)).toBe("w0");
  });
});

describe("the page", () => {
  test("each step in order with its badge, bar, duration and message; the renewal's facts", () => {
    const html = render(data());
    const steps = [...html.matchAll(/data-step="([a-z_]+)"/g)].map((m) => m[1]);
    expect(steps).toEqual(["key", "publish", "await_issuance", "install"]);
    expect(html).toContain('<li class="step ok" data-step="await_issuance"><span class="name">await_issuance</span><span><span class="badge ok">ok</span></span><span class="bar w100" aria-hidden="true"></span><span class="dur num">2.0 s</span><span class="message muted">issued</span></li>');
    expect(html).toContain('<span class="badge skipped">skipped</span>');
    expect(html).toContain('class="bar w50"');
    expect(html).toContain('<dd id="renewal-status"><span class="badge succeeded">succeeded</span></dd>');
    expect(html).toContain("(took 4.0 s)");
    expect(html).toContain('<a href="/certs/www">www</a>');
    expect(html).toContain('id="renewal" data-live="www" hx-get="/renewals/r1" hx-trigger="live" hx-select="#renewal" hx-swap="outerHTML"');
    expect(html).toContain('data-live-cert="www"');
  });

  test("a failed step and the renewal's error in full, escaped", () => {
    const html = render(data({ status: "failed", error: `acme: ${EVIL}`, events: [{ step: "submit", at: at(5), status: "failed", message: `acme: ${EVIL}\nsecond line`, durationMs: 5 }] }));
    expect(html).not.toContain("<script>alert");
    expect(html).toContain('<span class="message error-box">acme: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;\nsecond line</span>');
    expect(html).toContain('<p class="error-box">acme: &lt;script&gt;');
    expect(html).toContain('<span class="badge failed">failed</span>');
  });

  test("while it runs: running badge, how long so far, and a row for the step under way", () => {
    const html = render(data({ status: "running", finishedAt: null, events: data().renewal.events.slice(0, 1) }));
    expect(html).toContain('<dd id="renewal-status"><span class="badge running">running</span></dd>');
    expect(html).toContain("running for 5.0 s");
    expect(html).toContain('<li class="step pending" aria-live="polite"><span class="name muted">next step</span>');
  });

  test("a renewal that ended before its first step says so", () => {
    const html = render(data({ status: "interrupted", events: [] }));
    expect(html).toContain("No step was recorded");
    expect(html).toContain('<span class="badge interrupted">interrupted</span>');
  });

  test("a cert no longer configured is named, not linked; its id escaped", () => {
    const html = render(data({ certId: `gone<b>` }, false));
    expect(html).toContain("gone&lt;b&gt; (no longer configured)");
    expect(html).not.toContain("<b>");
  });
});
