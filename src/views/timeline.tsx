/**
 * @module The overview's expiry timeline: the next 90 days as an inline SVG drawn on the
 * server, one bar per day above the axis for the certs expiring that day and one below for
 * their planned renewals, its height the count. Built from the scheduler's last looks (no
 * store read, no PEM parsed), and one bar per day whatever the number of certs: 10,000
 * certs draw as many elements as ten.
 */
import type { CertSource } from "../api/ports.ts";

/** Today and the 90 days after it: a 90-day certificate issued today ends on the last one. */
export const TIMELINE_DAYS = 91;
const DAY_MS = 86_400_000;
/** Ids a bar's title names; the others are counted ("… +37 more"). */
export const TITLE_IDS = 5;

export const VIEW = { width: 900, height: 170 } as const;
const PAD_X = 8;
/** The axis: expiries grow up from it, planned renewals down. */
const AXIS_Y = 78;
const BAR_MAX = 62;
const TICK_Y = 162;
const TICK_EVERY_DAYS = 14;
const DAY_W = (VIEW.width - 2 * PAD_X) / TIMELINE_DAYS;

export interface Bucket {
  /** Days after the start of today (UTC): 0 is today, and takes whatever is already past. */
  day: number;
  count: number;
  /** The first `TITLE_IDS` ids, in config order. */
  ids: string[];
}

export interface TimelineData {
  now: Date;
  /** Midnight UTC today: day 0 starts here. */
  start: Date;
  /** Only days with at least one cert, in day order. */
  expiries: Bucket[];
  renewals: Bucket[];
}

export function timelineData(certs: Pick<CertSource, "certs" | "look">, now: Date): TimelineData {
  const start = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
  const expiries = new Map<number, Bucket>();
  const renewals = new Map<number, Bucket>();
  const add = (into: Map<number, Bucket>, at: number, id: string) => {
    const day = Math.max(0, Math.floor((at - start.getTime()) / DAY_MS));
    if (day >= TIMELINE_DAYS) return;
    let b = into.get(day);
    if (!b) into.set(day, (b = { day, count: 0, ids: [] }));
    b.count++;
    if (b.ids.length < TITLE_IDS) b.ids.push(id);
  };
  for (const c of certs.certs()) {
    const id = c.config.id;
    const look = certs.look(id);
    const notAfter = look?.decision?.notAfter;
    if (!look || !notAfter) continue;
    add(expiries, notAfter.getTime(), id);
    const renewAt = look.decision?.moment?.at;
    if (renewAt) add(renewals, renewAt.getTime(), id);
  }
  const ordered = (m: Map<number, Bucket>) => [...m.values()].sort((a, b) => a.day - b.day);
  return { now, start, expiries: ordered(expiries), renewals: ordered(renewals) };
}

export interface Mark {
  kind: "expiry" | "renewal";
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
}

export interface Geometry {
  marks: Mark[];
  todayX: number;
  ticks: { x: number; label: string }[];
  /** For readers of the SVG's text alternative. */
  summary: string;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const dayLabel = (d: Date) => `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
const round = (n: number) => Math.round(n * 10) / 10;

/** "www, api, mail … +37 more" */
export function idList(b: Bucket): string {
  const more = b.count - b.ids.length;
  return more > 0 ? `${b.ids.join(", ")} … +${more} more` : b.ids.join(", ");
}

export function timelineGeometry(d: TimelineData): Geometry {
  const most = Math.max(1, ...d.expiries.map((b) => b.count), ...d.renewals.map((b) => b.count));
  const dateOf = (day: number) => new Date(d.start.getTime() + day * DAY_MS);
  const mark = (kind: Mark["kind"], b: Bucket): Mark => {
    // A single cert stays visible beside a cluster of thousands.
    const height = round(Math.max(2, (b.count / most) * BAR_MAX));
    const when = b.day === 0 ? (kind === "expiry" ? "today or already expired" : "today or overdue") : `on ${dateOf(b.day).toISOString().slice(0, 10)}`;
    const what = kind === "expiry" ? `${b.count} expir${b.count === 1 ? "y" : "ies"}` : `${b.count} planned renewal${b.count === 1 ? "" : "s"}`;
    return {
      kind,
      x: round(PAD_X + b.day * DAY_W + 0.5),
      y: kind === "expiry" ? round(AXIS_Y - height) : AXIS_Y + 1,
      width: round(DAY_W - 1),
      height,
      title: `${what} ${when}: ${idList(b)}`,
    };
  };
  const ticks = [];
  for (let day = 0; day < TIMELINE_DAYS; day += TICK_EVERY_DAYS) ticks.push({ x: round(PAD_X + day * DAY_W), label: dayLabel(dateOf(day)) });
  const sum = (bs: Bucket[]) => bs.reduce((n, b) => n + b.count, 0);
  const planned = sum(d.renewals);
  const busiest = d.expiries.reduce<Bucket | null>((top, b) => (!top || b.count > top.count ? b : top), null);
  const busy = busiest && busiest.count > 1 ? `; most expiries on ${dayLabel(dateOf(busiest.day))} (${busiest.count})` : "";
  return {
    marks: [...d.expiries.map((b) => mark("expiry", b)), ...d.renewals.map((b) => mark("renewal", b))],
    todayX: round(PAD_X + ((d.now.getTime() - d.start.getTime()) / DAY_MS) * DAY_W),
    ticks,
    summary: `${sum(d.expiries)} expiring and ${planned} renewal${planned === 1 ? "" : "s"} planned in the next ${TIMELINE_DAYS - 1} days${busy}`,
  };
}

export function Timeline(p: { d: TimelineData }) {
  const g = timelineGeometry(p.d);
  return (
    <details class="timeline" open>
      <summary>
        Expiry timeline <span class="muted">· {g.summary}</span>
      </summary>
      <svg class="timeline" viewBox={`0 0 ${VIEW.width} ${VIEW.height}`} role="img" aria-label={`Expiry timeline: ${g.summary}`} preserveAspectRatio="xMinYMin meet">
        <line class="axis" x1={PAD_X} y1={AXIS_Y} x2={VIEW.width - PAD_X} y2={AXIS_Y} />
        {g.ticks.map((t, i) => (
          <text x={t.x} y={TICK_Y} text-anchor={i === 0 ? "start" : "middle"}>
            {t.label}
          </text>
        ))}
        {g.marks.map((m) => (
          <rect class={m.kind} x={m.x} y={m.y} width={m.width} height={m.height}>
            <title>{m.title}</title>
          </rect>
        ))}
        <line class="today" x1={g.todayX} y1={4} x2={g.todayX} y2={AXIS_Y + BAR_MAX + 4}>
          <title>now</title>
        </line>
      </svg>
      <p class="timeline-legend muted">
        <span class="key expiry">expiries</span> above the line, <span class="key renewal">planned renewals</span> below (each certificate's renewal moment); days in UTC. Hover a bar for its certs.
      </p>
    </details>
  );
}
