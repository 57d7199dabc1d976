/**
 * @module Cert statuses in bulk, and `GET /api/certs` with a query: filter by text and
 * status, sort, one page. Every matching cert's status is decided (a count, a filter or a
 * sort needs it), but the store is read only for the certs whose status depends on it, and
 * JSON is built for the page alone: at 10,000 certs a page costs a few small reads.
 */
import { toUnicode } from "../config/names.ts";
import type { CertConfig } from "../config/schema.ts";
import type { WatchedCert } from "../pipeline/runtime.ts";
import type { CertLook } from "../scheduler/scheduler.ts";
import { certStatus, statusNeedsState } from "./cert-view.ts";
import { CERT_STATUSES, type CertPageJson, type CertStatus } from "./json.ts";
import { intParam, listParam, oneOfParam } from "./query.ts";
import { firstLooks, viewsNow, type ViewDeps } from "./views.ts";

/** Any of these makes the reply a page (`{"total","items"}`); without them it stays the bare array of every cert. */
export const CERT_QUERY_PARAMS = ["q", "status", "sort", "order", "limit", "offset"] as const;
export const CERT_SORTS = ["id", "not_after", "days_left", "status"] as const;
export type CertSort = (typeof CERT_SORTS)[number];
export const DEFAULT_CERT_PAGE = 100;
export const MAX_CERT_PAGE = 1000;

export interface CertQuery {
  /** Case-insensitive substring of the id or of any name, A-label or U-label. */
  q?: string;
  /** Any of these statuses. */
  statuses?: readonly CertStatus[];
  /** Unset: config order. */
  sort?: CertSort;
  order: "asc" | "desc";
  limit: number;
  offset: number;
}

/** Throws a 400 (an HTTPException) naming the first parameter that is not valid. */
export function parseCertQuery(param: (name: string) => string | undefined): CertQuery {
  return {
    q: param("q"),
    statuses: listParam(param("status"), "status", CERT_STATUSES),
    sort: oneOfParam(param("sort"), "sort", CERT_SORTS),
    order: oneOfParam(param("order"), "order", ["asc", "desc"] as const) ?? "asc",
    limit: intParam(param("limit"), "limit", { min: 1, max: MAX_CERT_PAGE, fallback: DEFAULT_CERT_PAGE }),
    offset: intParam(param("offset"), "offset", { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 }),
  };
}

/** `asc` puts what needs attention first. */
const ATTENTION: Record<CertStatus, number> = { halted: 0, failed: 1, cooldown: 2, unreadable: 3, missing: 4, due: 5, renewing: 6, checking: 7, ok: 8 };

export interface Row {
  cert: WatchedCert;
  status: CertStatus;
  /** No certificate counts as expiring before any. */
  notAfter: number;
}

const byKey: Record<CertSort, (a: Row, b: Row) => number> = {
  id: (a, b) => compareIds(a, b),
  // days_left is not_after seen from now: the same order.
  not_after: (a, b) => a.notAfter - b.notAfter,
  days_left: (a, b) => a.notAfter - b.notAfter,
  status: (a, b) => ATTENTION[a.status] - ATTENTION[b.status],
};

function compareIds(a: Row, b: Row): number {
  const x = a.cert.config.id;
  const y = b.cert.config.id;
  return x < y ? -1 : x > y ? 1 : 0;
}

export async function certPage(deps: ViewDeps, query: CertQuery): Promise<CertPageJson> {
  const all = deps.certs.certs();
  const needle = query.q?.toLowerCase();
  const matching = needle ? all.filter((c) => matchesText(c, needle)) : all;
  const { total, rows } = pageOf(await certStatuses(deps, matching), query);
  return { total, items: await viewsNow(deps, rows.map((r) => r.cert)) };
}

/** Whether `needle` (lowercased) is a substring of the cert's id or of any of its names, case-insensitively. */
export function matchesText(cert: WatchedCert, needle: string): boolean {
  return searchable(cert.config).some((s) => s.includes(needle));
}

/** The page `query` asks for of `rows` (searched by its text already): filtered by status, sorted, sliced. */
export function pageOf(rows: readonly Row[], query: CertQuery): { total: number; rows: Row[] } {
  const wanted = query.statuses && new Set(query.statuses);
  const kept = wanted ? rows.filter((r) => wanted.has(r.status)) : [...rows];
  const sign = query.order === "desc" ? -1 : 1;
  if (query.sort) {
    const key = byKey[query.sort];
    // Ties in id order whichever the direction, so a page boundary never splits them differently.
    kept.sort((a, b) => sign * key(a, b) || compareIds(a, b));
  } else if (sign < 0) {
    kept.reverse();
  }
  return { total: kept.length, rows: kept.slice(query.offset, query.offset + query.limit) };
}

/**
 * The status of each of `certs`, in that order, reading the failure state only of those
 * that need work (the others' status does not depend on it): for counts, filters, sorts.
 */
export async function certStatuses(deps: ViewDeps, certs: readonly WatchedCert[]): Promise<Row[]> {
  let pass = statusesNow(deps, certs);
  if (pass.unlooked) {
    await firstLooks(deps, certs);
    pass = statusesNow(deps, certs);
  }
  const { rows, unsettled } = pass;
  if (unsettled.length > 0) {
    const states = await deps.store.certStates(unsettled.map((u) => rows[u.index]!.cert.config.id));
    const now = deps.clock.now();
    for (const u of unsettled) {
      const id = rows[u.index]!.cert.config.id;
      rows[u.index]!.status = certStatus({ busy: false, look: u.look, state: states.get(id) ?? null, nodeFailure: deps.certs.installFailure(id), now });
    }
  }
  return rows;
}

/**
 * `certStatuses` without reading the store, for when it cannot be read (an outage of its
 * server): a cert not looked at yet, or whose status needs its stored failure state, has
 * the status its look and the runner give alone.
 */
export function certStatusesWithoutStore(deps: ViewDeps, certs: readonly WatchedCert[]): Row[] {
  return statusesNow(deps, certs).rows;
}

/**
 * Each cert's status as far as the scheduler's look and the runner tell it, one look per
 * cert and one object: at 10,000 certs this loop is most of what a page of them costs.
 * `unsettled` are those whose status also depends on the stored failure state.
 */
function statusesNow(deps: ViewDeps, certs: readonly WatchedCert[]): { rows: Row[]; unsettled: { index: number; look: CertLook }[]; unlooked: boolean } {
  const now = deps.clock.now();
  const rows: Row[] = new Array(certs.length);
  const unsettled: { index: number; look: CertLook }[] = [];
  let unlooked = false;
  for (let i = 0; i < certs.length; i++) {
    const cert = certs[i]!;
    const look = deps.certs.look(cert.config.id);
    const busy = deps.certs.busy(cert.config.id);
    if (look === undefined) unlooked = true;
    else if (statusNeedsState({ busy, look, now })) unsettled.push({ index: i, look });
    rows[i] = { cert, status: certStatus({ busy, look, state: null, nodeFailure: deps.certs.installFailure(cert.config.id), now }), notAfter: look?.decision?.notAfter?.getTime() ?? Number.NEGATIVE_INFINITY };
  }
  return { rows, unsettled, unlooked };
}

/** Lowercased id and names, A-labels and U-labels; computed once per config (a reload brings new objects). */
const searchables = new WeakMap<CertConfig, readonly string[]>();

function searchable(config: CertConfig): readonly string[] {
  let strings = searchables.get(config);
  if (!strings) {
    strings = [...new Set([config.id, ...config.domains, ...config.domains.map(toUnicode)].map((s) => s.toLowerCase()))];
    searchables.set(config, strings);
  }
  return strings;
}
