/**
 * @module What `rota status --check` reports: a pure function of the cert list, so a
 * monitoring check and its test agree. A cert is a problem when it is `failed`,
 * `cooldown`, `halted`, `missing` or `unreadable`, is `ok` by its other targets while one
 * could not be read, has expired, or has been due for longer than
 * two check intervals without a successful renewal (not a fixed "days left", which a
 * 6-day certificate always is below). A renewal under way excuses neither a target that
 * serves nothing nor an overdue cert: a worker that hangs would hide both for good.
 */
import type { CertJson } from "../api/json.ts";

export function healthProblems(certs: CertJson[], checkIntervalSeconds: number, now: Date): string[] {
  const out: string[] = [];
  for (const c of certs) {
    const before = out.length;
    const why = c.last_renewal?.error ? `: ${c.last_renewal.error}` : "";
    const underWay = c.status === "renewing" ? `; ${renewalUnderWay(c)}` : "";
    if (c.status === "failed") out.push(`${c.id}: failed${why}`);
    else if (c.status === "cooldown") out.push(`${c.id}: cooling down until ${c.retry_at}${why}`);
    // The halting run's error ends with what to do; without that row (pruned), say it here.
    else if (c.status === "halted") out.push(`${c.id}: halted${why || `: stopped retrying after repeated authorization failures: fix its DCV, then rota renew ${c.id} --force`}`);
    else if (c.status === "missing") out.push(`${c.id}: missing: nothing installed`);
    else if (c.status === "unreadable") out.push(`${c.id}: unreadable: ${c.look_error ?? "no reason given"}`);
    // Ok by the targets that answered; one that did not (a NAS whose login waits for a person,
    // a host that is down) keeps serving a certificate that expires meanwhile.
    else if (c.status === "ok") {
      for (const t of c.targets) if (t.error !== null) out.push(`${c.id}: target ${t.name}: ${t.error}`);
    } else if (c.status === "renewing") {
      const bare = servingNothing(c);
      if (bare.length > 0) out.push(`${c.id}: missing: nothing installed on ${bare.join(", ")}${underWay}`);
    }
    if (c.days_left !== null && c.days_left <= 0) out.push(`${c.id}: expired at ${c.not_after}`);
    // Overdue is the catch-all for a cert nothing else flags: one already named above (a
    // cooldown longer than two intervals, say) would otherwise get a second line for one cause.
    const named = out.length > before;
    if (!named && c.due_since !== null && now.getTime() - Date.parse(c.due_since) > 2 * checkIntervalSeconds * 1000) {
      out.push(`${c.id}: due since ${c.due_since}, more than two check intervals without a successful renewal${underWay}`);
    }
  }
  return out;
}

/**
 * The targets the last look found serving nothing, read fine (one that could not be read is
 * not known to serve nothing). None before the first look (`renew_reason` null): a renewal
 * resumed at start runs before the cert's targets were read.
 */
function servingNothing(c: CertJson): string[] {
  if (c.renew_reason === null) return [];
  return c.targets.filter((t) => t.serial === null && t.error === null).map((t) => t.name);
}

/** The running renewal's start when the list has its row (written when it starts), else only that one runs. */
function renewalUnderWay(c: CertJson): string {
  const r = c.last_renewal;
  return r?.status === "running" ? `a renewal is under way since ${r.started_at}` : "a renewal is under way";
}
