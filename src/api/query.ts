/**
 * @module Query parameters of the API's lists, checked: a bad value is a 400 whose message
 * names the parameter and what it takes, thrown so a route reads its parameters in order.
 */
import { HTTPException } from "hono/http-exception";

/** The reason goes in the message too: the dashboard's pages show it beside the form. */
function refuse(message: string): never {
  throw new HTTPException(400, { message, res: Response.json({ error: message }, { status: 400 }) });
}

/** Digits only: `2.5`, `1e3`, ` 5` and `0x10` are refused, not rounded or read some other way. */
export function intParam(raw: string | undefined, name: string, o: { min: number; max: number; fallback: number }): number {
  if (raw === undefined) return o.fallback;
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= o.min && n <= o.max)) refuse(o.max === Number.MAX_SAFE_INTEGER ? `${name} must be an integer from ${o.min}` : `${name} must be an integer from ${o.min} to ${o.max}`);
  return n;
}

export function oneOfParam<T extends string>(raw: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) refuse(`${name} must be one of ${allowed.join(", ")}`);
  return raw as T;
}

/** A comma-separated list (`failed,cooldown`): any of these values. */
export function listParam<T extends string>(raw: string | undefined, name: string, allowed: readonly T[]): T[] | undefined {
  if (raw === undefined) return undefined;
  const values = raw.split(",");
  if (!values.every((v) => (allowed as readonly string[]).includes(v))) refuse(`${name} must be one or more of ${allowed.join(", ")}, separated by commas`);
  return values as T[];
}

/**
 * ISO 8601: a date (midnight UTC) or a date and time with its zone, `Z` or an offset. A
 * time without a zone is refused: the daemon's zone is not the client's.
 */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

export function timeParam(raw: string | undefined, name: string): Date | undefined {
  if (raw === undefined) return undefined;
  const ms = ISO_TIME.test(raw) && realDay(raw.slice(0, 10)) ? Date.parse(raw) : NaN;
  if (Number.isNaN(ms)) refuse(`${name} must be an ISO 8601 time like 2030-01-31T12:00:00Z, or a date like 2030-01-31`);
  return new Date(ms);
}

/** Date.parse rolls 2030-02-30 over to March 2; a day the calendar does not have is refused instead. */
function realDay(ymd: string): boolean {
  const [y, m, d] = ymd.split("-").map(Number) as [number, number, number];
  const day = new Date(0);
  day.setUTCFullYear(y, m - 1, d); // not Date.UTC, which reads years 0 to 99 as 1900 to 1999
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}
