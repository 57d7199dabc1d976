/**
 * @module Overview `/`: counts per status, then the certificates, searched, filtered,
 * sorted and paged on the server (50 a page, the URL holding the state), so 10,000
 * certs cost what one page costs. htmx swaps the table in place; without script every
 * link and the form reload the page.
 */
import { HTTPException } from "hono/http-exception";
import type { WatchedCert } from "../../pipeline/runtime.ts";
import { certStatuses, matchesText, pageOf, parseCertQuery, type CertQuery, type Row } from "../../api/cert-query.ts";
import { CERT_STATUSES, type CertJson, type CertPageJson, type CertStatus } from "../../api/json.ts";
import type { ApiDeps } from "../../api/ports.ts";
import { viewsNow } from "../../api/views.ts";
import { Badge, Time, relative } from "../components.tsx";
import { Layout } from "../layout.tsx";
import { Timeline, timelineData, type TimelineData } from "../timeline.tsx";

export const OVERVIEW_PAGE_SIZE = 50;

/** The statuses the summary strip always shows, even at 0. */
const SUMMARY: readonly CertStatus[] = ["ok", "due", "renewing", "cooldown", "failed", "halted", "missing"];

const COLUMNS: { key: "id" | "status" | "days_left" | "not_after"; label: string }[] = [
  { key: "id", label: "Certificate" },
  { key: "status", label: "Status" },
  { key: "days_left", label: "Days left" },
  { key: "not_after", label: "Expires" },
];

export interface OverviewData {
  query: CertQuery;
  /** The query's problem, shown above the table (the page falls back to no filter). */
  error: string | null;
  page: CertPageJson;
  counts: Map<CertStatus, number>;
  /** Certs whose newest certificate has expired, whatever their status (a cooldown, a failure): every one is an outage. */
  expired: number;
  configured: number;
  soonest: { id: string; notAfter: string } | null;
  now: Date;
  certs: Map<string, WatchedCert>;
  configFile: string;
  /** Of every cert, whatever the filter. */
  timeline: TimelineData;
  /** `/?…` of this view, for live refreshes and links. */
  self: string;
}

export async function overviewData(deps: ApiDeps, url: URL): Promise<OverviewData> {
  const params = url.searchParams;
  let error: string | null = null;
  let query: CertQuery;
  const read = (name: string) => (name === "limit" ? String(OVERVIEW_PAGE_SIZE) : (params.get(name) ?? undefined) || undefined);
  try {
    query = parseCertQuery(read);
  } catch (err) {
    if (!(err instanceof HTTPException)) throw err;
    error = err.message;
    query = { order: "asc", limit: OVERVIEW_PAGE_SIZE, offset: 0 };
  }
  const all = deps.certs.certs();
  // One status per cert serves both the summary and the table: at 10,000 certs deciding them is most of the page's cost.
  const rows = await certStatuses(deps, all);
  const counts = new Map<CertStatus, number>();
  let soonest: Row | null = null;
  let expired = 0;
  const nowMs = deps.clock.now().getTime();
  for (const r of rows) {
    counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    if (r.notAfter <= nowMs) expired++;
    if (Number.isFinite(r.notAfter) && (!soonest || r.notAfter < soonest.notAfter)) soonest = r;
  }
  const needle = query.q?.toLowerCase();
  const shown = pageOf(needle ? rows.filter((r) => matchesText(r.cert, needle)) : rows, query);
  const page = { total: shown.total, items: await viewsNow(deps, shown.rows.map((r) => r.cert)) };
  const certs = new Map(shown.rows.map((r) => [r.cert.config.id, r.cert]));
  const now = deps.clock.now();
  return {
    query,
    error,
    page,
    counts,
    expired,
    configured: all.length,
    soonest: soonest && { id: soonest.cert.config.id, notAfter: new Date(soonest.notAfter).toISOString() },
    now,
    certs,
    configFile: deps.configFile,
    timeline: timelineData(deps.certs, now),
    self: `${url.pathname}${url.search}`,
  };
}

/** A link to this view with some parameters changed (and the page reset unless `offset` is given). */
function href(q: CertQuery, change: Partial<Record<"q" | "status" | "sort" | "order" | "offset", string | undefined>>): string {
  const p = new URLSearchParams();
  const v = { q: q.q, status: q.statuses?.join(","), sort: q.sort, order: q.sort ? q.order : undefined, offset: undefined as string | undefined, ...change };
  for (const [k, val] of Object.entries(v)) if (val) p.set(k, val);
  if (p.get("offset") === "0") p.delete("offset");
  const s = p.toString();
  return s ? `/?${s}` : "/";
}

/** What happens next for the cert, in words. */
export function nextStep(c: CertJson, now: Date): string {
  switch (c.status) {
    case "renewing":
      return "renewing now";
    case "cooldown":
      return c.retry_at ? `retry ${relative(c.retry_at, now)}` : "cooling down";
    case "ok": {
      const at = c.renew_at;
      if (!at) return "–";
      return Date.parse(at) <= now.getTime() ? "renews at the next check" : `renews ${relative(at, now)}`;
    }
    case "halted":
      return "halted: fix its DCV, then force a renewal";
    case "due":
    case "failed":
      return "renews at the next check";
    case "missing":
      return "issues at the next check";
    case "unreadable":
      return "waiting for its target to answer";
    case "checking":
      return "checking its targets";
  }
}

function Summary(p: { d: OverviewData }) {
  const shown = [...SUMMARY, ...CERT_STATUSES.filter((s) => !SUMMARY.includes(s) && (p.d.counts.get(s) ?? 0) > 0)];
  const active = p.d.query.statuses?.length === 1 ? p.d.query.statuses[0] : undefined;
  return (
    <div id="summary" data-live="*" hx-get={p.d.self} hx-trigger="live" hx-select="#summary" hx-swap="outerHTML">
      <div class="summary" role="list" aria-label="Certificates by status">
        {shown.map((s) => (
          <a class="count" role="listitem" href={href(p.d.query, { status: active === s ? undefined : s })} aria-current={active === s ? "true" : undefined}>
            <strong>{p.d.counts.get(s) ?? 0}</strong>
            <Badge status={s} />
          </a>
        ))}
        {p.d.expired > 0 ? (
          <a class="count expired" role="listitem" href={href(p.d.query, { sort: "days_left", order: "asc" })}>
            <strong>{p.d.expired}</strong>
            <span class="expired-tag">expired</span>
          </a>
        ) : null}
        <div class="count" role="listitem">
          <strong>{p.d.soonest ? <Time iso={p.d.soonest.notAfter} date /> : "–"}</strong>
          <span class="muted">soonest expiry{p.d.soonest ? ` (${p.d.soonest.id})` : ""}</span>
        </div>
      </div>
    </div>
  );
}

function Filters(p: { q: CertQuery }) {
  const one = p.q.statuses?.length === 1 ? p.q.statuses[0] : "";
  return (
    <form class="filters" method="get" action="/" role="search" hx-get="/" hx-target="#certs" hx-select="#certs" hx-swap="outerHTML" hx-push-url="true" hx-trigger="input changed delay:300ms from:#q, change from:#status, submit">
      <label>
        Search
        <input id="q" type="search" name="q" value={p.q.q ?? ""} placeholder="id or domain" />
      </label>
      <label>
        Status
        <select id="status" name="status">
          <option value="">any</option>
          {CERT_STATUSES.map((s) => (
            <option value={s} selected={s === one}>
              {s}
            </option>
          ))}
        </select>
      </label>
      {p.q.sort ? <input type="hidden" name="sort" value={p.q.sort} /> : null}
      {p.q.sort ? <input type="hidden" name="order" value={p.q.order} /> : null}
      <button type="submit" class="secondary">
        Apply
      </button>
    </form>
  );
}

function SortHeader(p: { q: CertQuery; col: (typeof COLUMNS)[number] }) {
  const on = p.q.sort === p.col.key;
  const order = on && p.q.order === "asc" ? "desc" : "asc";
  return (
    <th scope="col" aria-sort={on ? (p.q.order === "asc" ? "ascending" : "descending") : undefined}>
      <a href={href(p.q, { sort: p.col.key, order })}>
        {p.col.label}
      </a>
    </th>
  );
}

function Row(p: { c: CertJson; d: OverviewData }) {
  const { c, d } = p;
  const extra = c.domains_unicode.length - 1;
  return (
    <tr id={`cert-${c.id}`}>
      <td>
        <a href={`/certs/${encodeURIComponent(c.id)}`}>{c.id}</a>
        <div class="muted">
          {c.domains_unicode[0] ?? ""}
          {extra > 0 ? ` +${extra}` : ""}
        </div>
      </td>
      <td>
        <Badge status={c.status} />
      </td>
      <td class="num">
        {c.days_left === null ? "–" : c.days_left <= 0 ? <span class="expired-tag">expired {Math.floor(c.days_left)}</span> : Math.floor(c.days_left)}
      </td>
      <td class="num">
        <Time iso={c.not_after} date />
      </td>
      <td class="hide-narrow">{d.certs.get(c.id)?.config.ca ?? ""}</td>
      <td>{nextStep(c, d.now)}</td>
      <td class="hide-narrow">
        {c.last_renewal ? (
          <a href={`/renewals/${encodeURIComponent(c.last_renewal.id)}`}>
            <Badge status={c.last_renewal.status} />
          </a>
        ) : (
          <span class="muted">none yet</span>
        )}
      </td>
    </tr>
  );
}

function Pager(p: { d: OverviewData }) {
  const { query, page } = p.d;
  // A bookmark or a hand-typed offset can point past the end (the list shrank, or `?offset=9999`).
  if (page.total > 0 && query.offset >= page.total) {
    const last = Math.floor((page.total - 1) / query.limit) * query.limit;
    return (
      <nav class="pager" aria-label="Pages">
        <span class="muted" id="past-the-end">
          none of {page.total}: this page starts after the last
        </span>
        <span class="actions">
          <a href={href(query, { offset: "0" })}>← First page</a>
          <a href={href(query, { offset: String(last) })}>Last page →</a>
        </span>
      </nav>
    );
  }
  const from = page.total === 0 ? 0 : query.offset + 1;
  const to = Math.min(query.offset + query.limit, page.total);
  return (
    <nav class="pager" aria-label="Pages">
      <span class="muted">
        {from}–{to} of {page.total}
      </span>
      <span class="actions">
        {query.offset > 0 ? <a href={href(query, { offset: String(Math.max(0, query.offset - query.limit)) })}>← Previous</a> : null}
        {to < page.total ? <a href={href(query, { offset: String(query.offset + query.limit) })}>Next →</a> : null}
      </span>
    </nav>
  );
}

function CertTable(p: { d: OverviewData }) {
  const { d } = p;
  return (
    <div id="certs" data-live="*" hx-get={d.self} hx-trigger="live" hx-select="#certs" hx-swap="outerHTML">
      {d.configured === 0 ? (
        <p class="empty panel">
          No certificates configured: add a <code>[[cert]]</code> section to <code>{d.configFile}</code> and run <code>rota reload</code>.
        </p>
      ) : d.page.total === 0 ? (
        <p class="empty panel">
          No certificate matches. <a href="/">Show all</a>
        </p>
      ) : (
        <div hx-boost="true" hx-target="#certs" hx-select="#certs" hx-swap="outerHTML">
          {d.page.items.length === 0 ? null : (
            <div class="table-wrap">
              <table>
                <caption class="skip">Certificates</caption>
                <thead>
                  <tr>
                    {COLUMNS.map((col) => (
                      <SortHeader q={d.query} col={col} />
                    ))}
                    <th scope="col" class="hide-narrow">
                      CA
                    </th>
                    <th scope="col">Next</th>
                    <th scope="col" class="hide-narrow">
                      Last renewal
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {d.page.items.map((c) => (
                    <Row c={c} d={d} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager d={d} />
        </div>
      )}
    </div>
  );
}

export function OverviewPage(p: { d: OverviewData; csrf: string }) {
  return (
    <Layout title="Certificates" csrf={p.csrf} section="overview">
      <h1>Certificates</h1>
      <Summary d={p.d} />
      {p.d.error ? (
        <p class="error-box" role="alert">
          {p.d.error}
        </p>
      ) : null}
      {p.d.configured > 0 ? <Timeline d={p.d.timeline} /> : null}
      <Filters q={p.d.query} />
      <CertTable d={p.d} />
    </Layout>
  );
}
