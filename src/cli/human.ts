/** @module Pure formatting for people reading a terminal: times relative to now, domain lists cut to a width. */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * `at` relative to `now`, rounded down to a whole unit so an expiry never looks later
 * than it is: "now", "in 42 s", "in 5 min", "in 3 h" (under two days), "in 59 d";
 * the past as "42 s ago", "3 h ago", "12 d ago".
 */
export function relativeTime(at: Date, now: Date): string {
  const delta = at.getTime() - now.getTime();
  const abs = Math.abs(delta);
  if (abs < 1000) return "now";
  const amount =
    abs < MINUTE ? `${Math.floor(abs / 1000)} s` : abs < HOUR ? `${Math.floor(abs / MINUTE)} min` : abs < 2 * DAY ? `${Math.floor(abs / HOUR)} h` : `${Math.floor(abs / DAY)} d`;
  return delta > 0 ? `in ${amount}` : `${amount} ago`;
}

/** An ISO time as `--utc` prints it, or relative to `now`; "-" for none. */
export function timeCell(iso: string | null, now: Date, utc: boolean): string {
  if (iso === null) return "-";
  return utc ? iso : relativeTime(new Date(iso), now);
}

/** Each name as CAs see it, with its Unicode form beside it when that differs: `xn--bcher-kva.example (bücher.example)`. */
export function bothForms(domains: string[], unicode: string[]): string[] {
  return domains.map((d, i) => (unicode[i] === undefined || unicode[i] === d ? d : `${d} (${unicode[i]})`));
}

/**
 * The domains comma-separated within `width` characters, the rest counted as " +N".
 * The first name is always shown whole; `width` undefined means no limit.
 */
export function fitDomains(domains: string[], width: number | undefined): string {
  const all = domains.join(",");
  if (width === undefined || all.length <= width) return all;
  for (let shown = domains.length - 1; shown > 1; shown--) {
    const text = `${domains.slice(0, shown).join(",")} +${domains.length - shown}`;
    if (text.length <= width) return text;
  }
  return domains.length > 1 ? `${domains[0]} +${domains.length - 1}` : all;
}
