/** @module The overview rendered to HTML: counts, rows, what happens next, escaping, empty states, bad queries. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConsola } from "consola";
import type { ApiDeps, CertSource, DaemonInfo } from "../../api/ports.ts";
import type { CertJson } from "../../api/json.ts";
import type { CertConfig } from "../../config/schema.ts";
import { EventBus } from "../../events.ts";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import type { CertLook } from "../../scheduler/scheduler.ts";
import { SqliteAuditStore } from "../../store/sqlite.ts";
import { FakeClock } from "../../testing/fake-clock.ts";
import { OverviewPage, nextStep, overviewData } from "./overview.tsx";

const dir = mkdtempSync(join(tmpdir(), "rota-overview-"));
const store = new SqliteAuditStore(join(dir, "rota.db"));
const clock = new FakeClock("2030-01-01T00:00:00Z");
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function cert(id: string, domains: string[]): WatchedCert {
  const config: CertConfig = { id, domains, ca: "le", dcv: undefined, install: ["files"], keyPath: "/k", keyType: "ecdsa-p256", keyRotation: "never", renewThresholdDays: undefined };
  return { config, installs: [] };
}

const look = (days: number | null): CertLook => ({
  decision: days === null ? { action: "renew", why: "lifetime", moment: null, reason: "nothing installed", notAfter: null } : { action: "none", why: "threshold", moment: { at: new Date(clock.now().getTime() + (days - 30) * 86_400_000), reason: "threshold" }, reason: "fine", notAfter: new Date(clock.now().getTime() + days * 86_400_000), newest: new Date(clock.now().getTime() + days * 86_400_000) },
  threshold: null, ari: null,
  error: null,
  dueSince: null,
  latestSerial: null,
  targets: [],
});

function deps(certs: WatchedCert[], looks: Map<string, CertLook>): ApiDeps {
  const source: CertSource = {
    certs: () => certs,
    find: (id) => certs.find((c) => c.config.id === id),
    look: (id) => looks.get(id),
    busy: () => false,
    nextTickAt: () => null,
    checkIntervalSeconds: () => 3600,
    firstLooks: async () => {},
    installFailure: () => null,
    backendType: () => undefined,
  };
  return { version: "t", configFile: "/etc/rota/rota.toml", startedAt: clock.now(), certs: source, actions: {} as ApiDeps["actions"], alerts: { sinkNames: () => [], test: async () => [] }, daemon: {} as DaemonInfo, store, bus: new EventBus(() => {}), clock, log: createConsola() };
}

const render = async (d: ApiDeps, url = "http://x/") => (<OverviewPage d={await overviewData(d, new URL(url))} csrf="tok" />).toString();

describe("the overview", () => {
  test("counts by status, the soonest expiry, and one row per cert with days left and what comes next", async () => {
    const certs = [cert("www", ["www.example.com", "example.com"]), cert("new", ["new.example.com"])];
    const html = await render(deps(certs, new Map([["www", look(59.5)], ["new", look(null)]])));
    expect(html).toContain('<a href="/certs/www">www</a>');
    expect(html).toContain("www.example.com +1");
    expect(html).toContain('<td class="num">59</td>');
    expect(html).toContain("renews in 29 d");
    expect(html).toContain("issues at the next check");
    expect(html).toContain("soonest expiry (www)");
    expect(html).toMatch(/<strong>1<\/strong><span class="badge ok">ok<\/span>/);
    expect(html).toMatch(/<strong>1<\/strong><span class="badge missing">missing<\/span>/);
    expect(html).toContain('hx-headers="{&quot;X-CSRF-Token&quot;:&quot;tok&quot;}"');
  });

  test("an expired certificate is flagged in its row and counted in the summary, whatever its status", async () => {
    const html = await render(deps([cert("dead", ["dead.example.com"]), cert("www", ["www.example.com"])], new Map([["dead", look(-1.5)], ["www", look(40)]])));
    expect(html).toContain('<span class="expired-tag">expired -2</span>');
    expect(html).toMatch(/<a class="count expired" role="listitem" href="\/\?sort=days_left&amp;order=asc"><strong>1<\/strong><span class="expired-tag">expired<\/span><\/a>/);
    expect(html).toContain('<td class="num">40</td>');
    const fine = await render(deps([cert("www", ["www.example.com"])], new Map([["www", look(40)]])));
    expect(fine).not.toContain("expired");
  });

  test("names people have are shown in their unicode form, escaped", async () => {
    const html = await render(deps([cert("idn", ["xn--bcher-kva.example", "<b>x</b>.example"])], new Map([["idn", look(10)]])));
    expect(html).toContain("bücher.example +1");
    expect(html).not.toContain("<b>x</b>");
  });

  test("a bad query is shown above an unfiltered table, not a broken page", async () => {
    const html = await render(deps([cert("www", ["www.example.com"])], new Map([["www", look(40)]])), "http://x/?sort=sideways");
    expect(html).toContain('role="alert"');
    expect(html).toContain("sort must be one of id, not_after, days_left, status");
    expect(html).toContain('<a href="/certs/www">www</a>');
  });

  test("no certs: the page says what to do", async () => {
    const html = await render(deps([], new Map()));
    expect(html).toContain("No certificates configured: add a <code>[[cert]]</code> section to <code>/etc/rota/rota.toml</code>");
  });

  test("a search that matches nothing offers the way back", async () => {
    const html = await render(deps([cert("www", ["www.example.com"])], new Map([["www", look(40)]])), "http://x/?q=zzz");
    expect(html).toContain("No certificate matches.");
  });

  describe("paging", () => {
    const many = Array.from({ length: 120 }, (_, i) => cert(`c${String(i + 1).padStart(3, "0")}`, [`c${i + 1}.example.com`]));
    const d = deps(many, new Map(many.map((c) => [c.config.id, look(40)])));

    test("the last page counts what it shows and offers the way back", async () => {
      const html = await render(d, "http://x/?offset=100");
      expect(html).toContain("101–120 of 120");
      expect(html).toContain('<a href="/certs/c120">c120</a>');
      expect(html).toContain('href="/?offset=50">← Previous</a>');
      expect(html).not.toContain("Next →");
    });

    test.each(["120", "301", "9999"])("offset=%s, past the end, shows none of the total with the first and last pages, no empty table", async (offset) => {
      const html = await render(d, `http://x/?offset=${offset}`);
      expect(html).toContain("none of 120: this page starts after the last");
      expect(html).toContain('<a href="/">← First page</a>');
      expect(html).toContain('<a href="/?offset=100">Last page →</a>');
      expect(html).not.toMatch(/\d–\d+ of 120/);
      expect(html).not.toContain("<table>");
    });

    test("past the end of a filtered list, the links keep the filter", async () => {
      const html = await render(d, "http://x/?q=c11&offset=50");
      expect(html).toContain("none of 11: this page starts after the last");
      expect(html).toContain('<a href="/?q=c11">← First page</a>');
      expect(html).toContain('<a href="/?q=c11">Last page →</a>');
    });
  });

  test("sort links flip the order of the active column and keep the filters", async () => {
    const html = await render(deps([cert("www", ["www.example.com"])], new Map([["www", look(40)]])), "http://x/?q=w&sort=days_left&order=asc");
    expect(html).toContain('aria-sort="ascending"');
    expect(html).toContain('href="/?q=w&amp;sort=days_left&amp;order=desc"');
  });
});

test("what comes next, by status", () => {
  const now = clock.now();
  const base: CertJson = { id: "a", domains: [], domains_unicode: [], status: "ok", not_after: null, days_left: null, renew_at: null, renew_reason: null, ari_window: null, next_check: null, retry_at: null, due_since: null, last_renewal: null, look_error: null, targets: [] };
  expect(nextStep({ ...base, status: "renewing" }, now)).toBe("renewing now");
  expect(nextStep({ ...base, status: "cooldown", retry_at: "2030-01-01T02:00:00.000Z" }, now)).toBe("retry in 2 h");
  expect(nextStep({ ...base, status: "ok", renew_at: "2030-01-31T00:00:00.000Z" }, now)).toBe("renews in 30 d");
  expect(nextStep({ ...base, status: "ok" }, now)).toBe("–");
  expect(nextStep({ ...base, status: "unreadable" }, now)).toBe("waiting for its target to answer");
});
