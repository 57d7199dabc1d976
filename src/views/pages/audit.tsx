/**
 * @module Audit `/audit`: every renewal, newest first, filtered by cert, status, trigger and
 * start date, paged by keyset (`before`: the last renewal of the page before), read with the
 * API's own parser. htmx swaps the table in place; without script the form and links reload.
 */
import { HTTPException } from "hono/http-exception";
import type { ApiDeps } from "../../api/ports.ts";
import { timeParam } from "../../api/query.ts";
import { RENEWAL_STATUSES, TRIGGERS, parseRenewalQuery } from "../../api/renewal-query.ts";
import type { Renewal } from "../../store/types.ts";
import { Badge, Time, duration } from "../components.tsx";
import { Layout } from "../layout.tsx";

export const AUDIT_PAGE_SIZE = 50;
const FILTERS = ["cert", "status", "trigger", "since", "until"] as const;
/** A note longer than this is cut in the table; the renewal's page has it in full. */
const NOTE_CHARS = 160;
const DAY_MS = 86_400_000;
const BARE_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The form's values as typed, kept in the form and in every link even when they are not valid. */
export type AuditFilters = Partial<Record<(typeof FILTERS)[number], string>>;

export interface AuditData {
  filters: AuditFilters;
  before: string | undefined;
  /** The parameters' problem, shown above the table (the page falls back to the newest renewals, unfiltered). */
  error: string | null;
  renewals: Renewal[];
  /** The `before` of the next page; null on the last one. */
  older: string | null;
  now: Date;
  /** `/audit?…` of this view, for live refreshes. */
  self: string;
}

export async function auditData(deps: Pick<ApiDeps, "certs" | "store" | "clock">, url: URL): Promise<AuditData> {
  const params = url.searchParams;
  const given = (name: string) => params.get(name) || undefined;
  const filters: AuditFilters = {};
  for (const f of FILTERS) filters[f] = given(f);
  const before = given("before");
  const read = (name: string): string | undefined => {
    // One more than a page: whether an older page exists, without a count.
    if (name === "limit") return String(AUDIT_PAGE_SIZE + 1);
    const raw = given(name);
    // A date picker's "until" means through that day; the API's is the instant before which runs started.
    if (name !== "until" || !raw || !BARE_DATE.test(raw)) return raw;
    try {
      return new Date(timeParam(raw, name)!.getTime() + DAY_MS).toISOString().slice(0, 10);
    } catch {
      // Not a day the calendar has: the parser refuses it in its own words.
      return raw;
    }
  };
  let error: string | null = null;
  let rows: Renewal[];
  try {
    rows = await deps.store.listRenewals(await parseRenewalQuery(deps, read));
  } catch (err) {
    if (!(err instanceof HTTPException)) throw err;
    error = err.message;
    rows = await deps.store.listRenewals({ limit: AUDIT_PAGE_SIZE + 1 });
  }
  const more = rows.length > AUDIT_PAGE_SIZE;
  const renewals = rows.slice(0, AUDIT_PAGE_SIZE);
  return { filters, before: error ? undefined : before, error, renewals, older: more ? renewals.at(-1)!.id : null, now: deps.clock.now(), self: `${url.pathname}${url.search}` };
}

/** This view's filters with another cursor (none: the newest page). */
function href(filters: AuditFilters, before?: string): string {
  const p = new URLSearchParams();
  for (const f of FILTERS) if (filters[f]) p.set(f, filters[f]);
  if (before) p.set("before", before);
  const s = p.toString();
  return s ? `/audit?${s}` : "/audit";
}

/** The first line of the error (or the reason the run started), cut to a table cell's length. */
function note(r: Renewal): string {
  const text = (r.error ?? r.reason ?? "").split("\n")[0]!;
  return text.length > NOTE_CHARS ? `${text.slice(0, NOTE_CHARS - 1)}…` : text;
}

function Filters(p: { f: AuditFilters }) {
  const { f } = p;
  return (
    <form class="filters" method="get" action="/audit" role="search" hx-get="/audit" hx-target="#renewals" hx-select="#renewals" hx-swap="outerHTML" hx-push-url="true" hx-trigger="input changed delay:300ms from:#audit-cert, change from:#audit-status, change from:#audit-trigger, change from:#audit-since, change from:#audit-until, submit">
      <label>
        Certificate
        <input id="audit-cert" type="search" name="cert" value={f.cert ?? ""} placeholder="cert id" />
      </label>
      <label>
        Status
        <select id="audit-status" name="status">
          <option value="">any</option>
          {RENEWAL_STATUSES.map((s) => (
            <option value={s} selected={s === f.status}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        Trigger
        <select id="audit-trigger" name="trigger">
          <option value="">any</option>
          {TRIGGERS.map((t) => (
            <option value={t} selected={t === f.trigger}>
              {t}
            </option>
          ))}
        </select>
      </label>
      <label>
        Since
        <input id="audit-since" type="date" name="since" value={f.since ?? ""} />
      </label>
      <label>
        Until
        <input id="audit-until" type="date" name="until" value={f.until ?? ""} />
      </label>
      <button type="submit" class="secondary">
        Apply
      </button>
    </form>
  );
}

function Row(p: { r: Renewal }) {
  const { r } = p;
  const ran = r.finishedAt ? duration(r.finishedAt.getTime() - r.startedAt.getTime()) : null;
  return (
    <tr id={`renewal-${r.id}`}>
      <td class="num">
        <a href={`/renewals/${encodeURIComponent(r.id)}`}>
          <Time iso={r.startedAt.toISOString()} />
        </a>
      </td>
      <td>
        <a href={`/certs/${encodeURIComponent(r.certId)}`}>{r.certId}</a>
      </td>
      <td>
        <Badge status={r.status} />
      </td>
      <td>
        {r.trigger}
        {r.installOnly ? <span class="muted"> (install)</span> : null}
      </td>
      <td class="num hide-narrow">{ran ?? <span class="muted">–</span>}</td>
      <td class="hide-narrow audit-note">{note(r)}</td>
    </tr>
  );
}

function Empty(p: { d: AuditData }) {
  const filtered = FILTERS.some((f) => p.d.filters[f]);
  if (p.d.before) {
    return (
      <p class="empty panel">
        No older renewals. <a href={href(p.d.filters)}>Newest</a>
      </p>
    );
  }
  if (filtered && !p.d.error) {
    return (
      <p class="empty panel">
        No renewal matches these filters. <a href="/audit">Show all</a>
      </p>
    );
  }
  return (
    <p class="empty panel">
      No renewals yet. The daemon renews each certificate as it comes due; to start one now, open a certificate and press <strong>Renew now</strong>, or run <code>rota renew &lt;id&gt;</code>.
    </p>
  );
}

function RenewalTable(p: { d: AuditData }) {
  const { d } = p;
  // The page shown after a refused query is unfiltered: so are its links, or each would be refused again.
  const kept = d.error ? {} : d.filters;
  // Only the newest page changes as renewals run; an older one stays as it is.
  const live = d.before ? {} : { "data-live": "*", "hx-get": d.self, "hx-trigger": "live", "hx-select": "#renewals", "hx-swap": "outerHTML" };
  return (
    <div id="renewals" {...live}>
      {d.error ? (
        <p class="error-box" role="alert">
          {d.error}
        </p>
      ) : null}
      {d.renewals.length === 0 ? (
        <Empty d={d} />
      ) : (
        <div hx-boost="true" hx-target="#renewals" hx-select="#renewals" hx-swap="outerHTML">
          <div class="table-wrap">
            <table>
              <caption class="skip">Renewals, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Started</th>
                  <th scope="col">Certificate</th>
                  <th scope="col">Status</th>
                  <th scope="col">Trigger</th>
                  <th scope="col" class="hide-narrow">
                    Took
                  </th>
                  <th scope="col" class="hide-narrow">
                    Error or reason
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.renewals.map((r) => (
                  <Row r={r} />
                ))}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Pages">
            <span class="muted">
              {d.renewals.length} renewal{d.renewals.length === 1 ? "" : "s"}
              {d.before ? " (older)" : ""}
            </span>
            <span class="actions">
              {d.before ? <a href={href(kept)}>← Newest</a> : null}
              {d.older ? (
                <a href={href(kept, d.older)} rel="next">
                  Older →
                </a>
              ) : null}
            </span>
          </nav>
        </div>
      )}
    </div>
  );
}

export function AuditPage(p: { d: AuditData; csrf: string }) {
  return (
    <Layout title="Audit" csrf={p.csrf} section="audit">
      <h1>Audit</h1>
      <Filters f={p.d.filters} />
      <RenewalTable d={p.d} />
    </Layout>
  );
}
