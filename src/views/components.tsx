/** @module Small pieces the pages share: status badges, times, relative durations. */

/** A status as text and colour (never colour alone). */
export function Badge(p: { status: string }) {
  return <span class={`badge ${p.status}`}>{p.status}</span>;
}

/** A time: ISO UTC in the markup (what a reader without script sees), the reader's locale once live.js runs, UTC in the title. */
export function Time(p: { iso: string | null; date?: boolean }) {
  if (!p.iso) return <span class="muted">–</span>;
  const shown = p.date ? p.iso.slice(0, 10) : p.iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
  return (
    <time datetime={p.iso} title={`${shown} (UTC)`} data-format={p.date ? "date" : undefined}>
      {shown}
    </time>
  );
}

/** "3 d", "5 h", "12 min", "40 s": the largest unit, rounded down. */
export function span(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s >= 86_400) return `${Math.floor(s / 86_400)} d`;
  if (s >= 3_600) return `${Math.floor(s / 3_600)} h`;
  if (s >= 60) return `${Math.floor(s / 60)} min`;
  return `${s} s`;
}

/** "in 3 d" or "2 h ago" from `now`. */
export function relative(iso: string, now: Date): string {
  const ms = Date.parse(iso) - now.getTime();
  return ms >= 0 ? `in ${span(ms)}` : `${span(-ms)} ago`;
}

/** A run's duration: "1.2 s", "3 min". */
export function duration(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s` : span(ms);
}
