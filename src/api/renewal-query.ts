/**
 * @module `GET /api/renewals`'s query, checked: the audit trail's filters and keyset cursor,
 * read the same way by the API and the audit page.
 */
import type { Trigger } from "../events.ts";
import type { RenewalQuery, RenewalStatus } from "../store/types.ts";
import { MAX_RENEWALS_LIMIT } from "./json.ts";
import type { ApiDeps } from "./ports.ts";
import { intParam, listParam, refuse, timeParam } from "./query.ts";

// Every value, checked against its type by the compiler: a new one cannot be left out of the filters.
export const TRIGGERS = Object.keys({ scheduled: 0, manual: 0, startup: 0, reload: 0, sync: 0 } satisfies Record<Trigger, 0>) as Trigger[];
export const RENEWAL_STATUSES = Object.keys({ running: 0, succeeded: 0, failed: 0, interrupted: 0 } satisfies Record<RenewalStatus, 0>) as RenewalStatus[];
export const DEFAULT_RENEWALS_LIMIT = 20;

/**
 * Throws an HTTPException naming the first parameter that is not valid: a 400, or a 404 for
 * a cert neither configured nor in the audit trail.
 */
export async function parseRenewalQuery(deps: Pick<ApiDeps, "certs" | "store">, param: (name: string) => string | undefined): Promise<RenewalQuery> {
  const limit = intParam(param("limit"), "limit", { min: 1, max: MAX_RENEWALS_LIMIT, fallback: DEFAULT_RENEWALS_LIMIT });
  const statuses = listParam(param("status"), "status", RENEWAL_STATUSES);
  const triggers = listParam(param("trigger"), "trigger", TRIGGERS);
  const since = timeParam(param("since"), "since");
  const until = timeParam(param("until"), "until");
  if (since && until && until <= since) refuse("until must be later than since");
  // Empty is the first page: a paging loop starts with no last id.
  const before = param("before") || undefined;
  // A cursor that names nothing would answer an empty page, which reads as "no older renewals".
  if (before !== undefined && !(await deps.store.getRenewal(before))) {
    refuse("before must be the id of a renewal in the audit trail: the last one of the previous page");
  }
  const certId = param("cert");
  // Empty must not read as "every cert" (the event stream refuses it the same way).
  if (certId === "") refuse("cert must be a cert id");
  if (certId !== undefined && !deps.certs.find(certId)) {
    const known = (await deps.store.listRenewalHeads({ certId, limit: 1 })).length > 0;
    if (!known) refuse(`unknown cert ${JSON.stringify(certId)}`, 404);
  }
  return { certId, statuses, triggers, since, until, before, limit };
}
