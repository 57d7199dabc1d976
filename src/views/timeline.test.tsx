/** @module The expiry timeline's buckets and geometry at 0, 1 and 10,000 certs, and what it renders. */
import { describe, expect, test } from "bun:test";
import type { CertSource } from "../api/ports.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import { TIMELINE_DAYS, TITLE_IDS, Timeline, VIEW, idList, timelineData, timelineGeometry, type Geometry } from "./timeline.tsx";

const DAY = 86_400_000;
const now = new Date("2030-01-01T06:00:00Z");

/** Certs expiring `days` from now (null: no certificate yet), each renewing 30 days before. */
function source(expiring: { id: string; days: number | null }[]): Pick<CertSource, "certs" | "look"> {
  const looks = new Map<string, CertLook>(
    expiring.map(({ id, days }) => [
      id,
      {
        decision: days === null ? { action: "renew", why: "lifetime", moment: null, reason: "no certificate", notAfter: null } : { action: "none", why: "threshold", moment: { at: new Date(now.getTime() + (days - 30) * DAY), reason: "threshold" }, reason: "fine", notAfter: new Date(now.getTime() + days * DAY), newest: new Date(now.getTime() + days * DAY) },
        threshold: null, ari: null,
        error: null,
        dueSince: null,
        latestSerial: null,
        targets: [],
      },
    ]),
  );
  const certs = expiring.map(({ id }) => ({ config: { id } }) as WatchedCert);
  return { certs: () => certs, look: (id) => looks.get(id) };
}

function insideView(g: Geometry): void {
  for (const m of g.marks) {
    expect(m.x).toBeGreaterThanOrEqual(0);
    expect(m.y).toBeGreaterThanOrEqual(0);
    expect(m.height).toBeGreaterThan(0);
    expect(m.x + m.width).toBeLessThanOrEqual(VIEW.width);
    expect(m.y + m.height).toBeLessThanOrEqual(VIEW.height);
  }
  for (const t of g.ticks) expect(t.x).toBeLessThan(VIEW.width);
  expect(g.todayX).toBeGreaterThanOrEqual(0);
  expect(g.todayX).toBeLessThan(VIEW.width);
}

const count = (html: string, tag: string) => html.split(`<${tag}`).length - 1;

describe("buckets", () => {
  test("no certs: no bars, the axis, today and the ticks every two weeks", () => {
    const d = timelineData(source([]), now);
    expect(d.expiries).toEqual([]);
    expect(d.renewals).toEqual([]);
    const g = timelineGeometry(d);
    expect(g.marks).toEqual([]);
    expect(g.ticks.map((t) => t.label)).toEqual(["1 Jan", "15 Jan", "29 Jan", "12 Feb", "26 Feb", "12 Mar", "26 Mar"]);
    expect(g.summary).toBe("0 expiring and 0 renewals planned in the next 90 days");
    insideView(g);
    const html = (<Timeline d={d} />).toString();
    expect(count(html, "rect")).toBe(0);
  });

  test("one cert: its expiry on its day, its renewal 30 days earlier, both titled with its id", () => {
    const d = timelineData(source([{ id: "www", days: 45 }]), now);
    // A 90-day certificate issued today ends on the window's last day.
    expect(timelineData(source([{ id: "fresh", days: 90 }]), now).expiries).toEqual([{ day: 90, count: 1, ids: ["fresh"] }]);
    expect(d.expiries).toEqual([{ day: 45, count: 1, ids: ["www"] }]);
    expect(d.renewals).toEqual([{ day: 15, count: 1, ids: ["www"] }]);
    const g = timelineGeometry(d);
    const [expiry, renewal] = g.marks;
    expect(expiry!.title).toBe("1 expiry on 2030-02-15: www");
    expect(renewal!.title).toBe("1 planned renewal on 2030-01-16: www");
    expect(g.summary).toBe("1 expiring and 1 renewal planned in the next 90 days");
    // Day 45 sits three times as far along as day 15; today is a quarter into day 0.
    expect(expiry!.x - 8.5).toBeCloseTo(3 * (renewal!.x - 8.5), 0);
    expect(g.todayX).toBeCloseTo(8 + (VIEW.width - 16) / TIMELINE_DAYS / 4, 1);
    // Expiries rise above the axis, renewals hang below it.
    expect(expiry!.y + expiry!.height).toBeLessThanOrEqual(renewal!.y);
    insideView(g);
  });

  test("past expiries and overdue renewals show today; beyond 90 days and certs never issued are left out", () => {
    const d = timelineData(
      source([
        { id: "expired", days: -3 },
        { id: "due", days: 20 },
        { id: "later", days: 200 },
        { id: "new", days: null },
      ]),
      now,
    );
    expect(d.expiries).toEqual([
      { day: 0, count: 1, ids: ["expired"] },
      { day: 20, count: 1, ids: ["due"] },
    ]);
    expect(d.renewals).toEqual([{ day: 0, count: 2, ids: ["expired", "due"] }]);
    expect(timelineGeometry(d).marks.at(-1)!.title).toBe("2 planned renewals today or overdue: expired, due");
  });

  test("10,000 certs: one bar per day, counts add up, titles capped, a bounded number of elements", () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({ id: `c${i}`, days: i % 120 }));
    const d = timelineData(source(many), now);
    expect(d.expiries.length).toBe(TIMELINE_DAYS);
    expect(d.expiries.reduce((n, b) => n + b.count, 0)).toBe(many.filter((c) => c.days < TIMELINE_DAYS).length);
    for (const b of [...d.expiries, ...d.renewals]) expect(b.ids.length).toBeLessThanOrEqual(TITLE_IDS);
    // Renewals 30 days before expiry: everything expiring within 30 days is due today.
    expect(d.renewals[0]).toMatchObject({ day: 0, count: many.filter((c) => c.days <= 30).length });
    const g = timelineGeometry(d);
    insideView(g);
    expect(g.marks[0]!.title).toMatch(/^84 expiries today or already expired: c0, c120, c240, c360, c480 … \+79 more$/);
    const html = (<Timeline d={d} />).toString();
    expect(count(html, "rect")).toBe(d.expiries.length + d.renewals.length);
    expect(count(html, "rect")).toBeLessThanOrEqual(2 * TIMELINE_DAYS);
    expect(html.length).toBeLessThan(60_000);
  });
});

test("idList names up to five and counts the rest", () => {
  expect(idList({ day: 0, count: 2, ids: ["www", "api"] })).toBe("www, api");
  expect(idList({ day: 0, count: 39, ids: ["www", "api"] })).toBe("www, api … +37 more");
});

test("ids are escaped in titles", () => {
  const html = (<Timeline d={timelineData(source([{ id: `<script>"x"</script>`, days: 5 }]), now)} />).toString();
  expect(html).not.toContain("<script>");
  expect(html).toContain("&lt;script&gt;");
});
