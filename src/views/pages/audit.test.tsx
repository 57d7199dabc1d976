/** @module `/audit` in-process over a real store: filters, the until day included, keyset pages, bad parameters in an error box, empty states, escaping. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Trigger } from "../../events.ts";
import type { ApiDeps, CertSource } from "../../api/ports.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import { SqliteAuditStore } from "../../store/sqlite.ts";
import type { RenewalStatus } from "../../store/types.ts";
import { FakeClock } from "../../testing/fake-clock.ts";
import { dashboardRoutes } from "../routes.tsx";
import { AUDIT_PAGE_SIZE } from "./audit.tsx";

const clock = new FakeClock("2030-01-10T12:00:00Z");
const HOUR = 3_600_000;

let dir: string;
let store: SqliteAuditStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rota-audit-page-"));
  store = new SqliteAuditStore(join(dir, "rota.db"));
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function pages() {
  const configured = ["www", "api"].map((id) => ({ config: { id } }) as WatchedCert);
  const certs = { find: (id: string) => configured.find((c) => c.config.id === id) } as CertSource;
  return dashboardRoutes({ certs, store, clock } as unknown as ApiDeps);
}

/** A renewal started `hoursAgo` before the clock's now. */
async function add(id: string, certId: string, hoursAgo: number, trigger: Trigger, status: RenewalStatus, error: string | null = null): Promise<void> {
  const startedAt = new Date(clock.now().getTime() - hoursAgo * HOUR);
  await store.openRenewal({ id, certId, trigger, installOnly: false, reason: "expires in 20 days", startedAt });
  if (status !== "running") await store.closeRenewal(id, status, new Date(startedAt.getTime() + 4_200), error);
}

async function page(query = ""): Promise<string> {
  const res = await pages().request(`/audit${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/html");
  return res.text();
}

/** The renewal ids the table lists, in order. */
const rowIds = (html: string) => [...html.matchAll(/<tr id="renewal-([^"]+)"/g)].map((m) => m[1]);
const errorBox = (html: string) => /<p class="error-box" role="alert">([^<]*)<\/p>/.exec(html)?.[1] ?? null;

describe("filters", () => {
  beforeEach(async () => {
    await add("w1", "www", 72, "startup", "succeeded");
    await add("a1", "api", 50, "scheduled", "failed", "acme: rate limited");
    await add("w2", "www", 30, "manual", "failed", "dns: no zone");
    await add("gone1", "gone", 10, "scheduled", "succeeded");
    await add("a2", "api", 1, "manual", "running");
  });

  test("no filter: every renewal, newest first, each linking to its page and its cert", async () => {
    const html = await page();
    expect(rowIds(html)).toEqual(["a2", "gone1", "w2", "a1", "w1"]);
    expect(html).toContain(`<a href="/renewals/w2">`);
    expect(html).toContain(`<a href="/certs/api">api</a>`);
    expect(html).toContain("dns: no zone");
    expect(html).toContain("4.2 s");
    expect(errorBox(html)).toBeNull();
    expect(html).not.toContain("Older →");
  });

  test.each([
    ["?cert=www", ["w2", "w1"]],
    ["?status=failed", ["w2", "a1"]],
    ["?trigger=manual", ["a2", "w2"]],
    ["?cert=api&status=failed", ["a1"]],
    // A cert no longer configured but in the trail.
    ["?cert=gone", ["gone1"]],
    // 2030-01-08T06:00Z and 2030-01-09T06:00Z: until is the last day included.
    ["?since=2030-01-08&until=2030-01-09", ["w2", "a1"]],
    ["?until=2030-01-08", ["a1", "w1"]],
  ])("%s", async (query, expected) => {
    expect(rowIds(await page(query))).toEqual(expected);
  });

  test("the form keeps the chosen values", async () => {
    const html = await page("?cert=www&status=failed&trigger=manual&since=2030-01-08&until=2030-01-09");
    expect(html).toContain(`name="cert" value="www"`);
    expect(html).toContain(`<option value="failed" selected="">failed</option>`);
    expect(html).toContain(`<option value="manual" selected="">manual</option>`);
    expect(html).toContain(`name="since" value="2030-01-08"`);
    expect(html).toContain(`name="until" value="2030-01-09"`);
  });

  test.each([
    ["?since=yesterday", "since must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31"],
    ["?since=2030-02-30", "since must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31"],
    ["?until=2030-02-30", "until must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31"],
    ["?since=2030-01-09&until=2030-01-05", "until must be later than since"],
    ["?status=done", "status must be one or more of running, succeeded, failed, interrupted, separated by commas"],
    ["?trigger=cron", "trigger must be one or more of scheduled, manual, startup, reload, sync, separated by commas"],
    ["?cert=nope", `unknown cert &quot;nope&quot;`],
    ["?before=nope", "before must be the id of a renewal in the audit trail: the last one of the previous page"],
  ])("%s: an error box above the newest renewals, the value kept in the form", async (query, message) => {
    const html = await page(query);
    expect(errorBox(html)).toBe(message);
    expect(rowIds(html)).toEqual(["a2", "gone1", "w2", "a1", "w1"]);
    expect(html.indexOf("error-box")).toBeLessThan(html.indexOf("<table"));
  });

  test("nothing matches: says so, with a way back", async () => {
    const html = await page("?cert=www&trigger=reload");
    expect(rowIds(html)).toEqual([]);
    expect(html).toContain("No renewal matches these filters.");
    expect(html).toContain(`<a href="/audit">Show all</a>`);
  });
});

test("keyset pages: Older → carries the filters and the last id; the last page has none, and a way back to the newest", async () => {
  for (let i = 0; i < AUDIT_PAGE_SIZE + 10; i++) await add(`r${String(i).padStart(3, "0")}`, i % 2 ? "www" : "api", i, "scheduled", "succeeded");
  const first = await page("?trigger=scheduled");
  const ids = rowIds(first);
  expect(ids.length).toBe(AUDIT_PAGE_SIZE);
  expect(ids[0]).toBe("r000");
  const older = /<a href="([^"]+)" rel="next">Older →<\/a>/.exec(first)?.[1];
  expect(older).toBe(`/audit?trigger=scheduled&amp;before=${ids.at(-1)}`);
  // Rows added meanwhile do not shift the next page.
  await add("new", "www", 0, "scheduled", "succeeded");
  const second = await page(`?trigger=scheduled&before=${ids.at(-1)}`);
  expect(rowIds(second)).toEqual(Array.from({ length: 10 }, (_, i) => `r${String(AUDIT_PAGE_SIZE + i).padStart(3, "0")}`));
  expect(second).not.toContain("Older →");
  expect(second).toContain(`<a href="/audit?trigger=scheduled">← Newest</a>`);
  // After a refused query the page is unfiltered (with "new" first), and so is its next page.
  expect(await page("?since=soon")).toContain(`<a href="/audit?before=r048" rel="next">Older →</a>`);
  // Only the newest page follows events.
  expect(first).toContain(`data-live="*"`);
  expect(second).not.toContain("data-live=");
});

describe("empty and escaping", () => {
  test("no renewals at all: says how one starts", async () => {
    const html = await page();
    expect(html).toContain("No renewals yet.");
    expect(html).toContain("Renew now");
    expect(html).not.toContain("<table");
  });

  test("cert ids and errors with markup render as text", async () => {
    await add("x1", `<script>alert("id")</script>`, 1, "manual", "failed", `acme: <img src=x onerror=alert(1)> "quoted" ünïcode`);
    const html = await page();
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;");
    expect(html).toContain(`href="/certs/%3Cscript%3Ealert(%22id%22)%3C%2Fscript%3E"`);
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; ünïcode");
  });

  test("a long error is cut to its first line in the table", async () => {
    await add("x1", "www", 1, "manual", "failed", `${"e".repeat(300)}\nsecond line`);
    const html = await page();
    expect(html).toContain(`${"e".repeat(159)}…`);
    expect(html).not.toContain("second line");
  });
});
