/**
 * @module Query parameters of the API's lists, checked: a bad value is a 400 whose message
 * names the parameter and what it takes, thrown so a route reads its parameters in order.
 */
import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { errorResponse } from "./error-response.ts";

/** The message goes in both: the API answers `res`, a page shows `message`. */
export function refuse(message: string, status: 400 | 404 = 400): never {
  throw new HTTPException(status, { message, res: errorResponse(status, message) });
}

/** A parameter given twice is refused, not read as its first value: `?cert=a&cert=b` asks for something no route answers. */
export const singleParams: MiddlewareHandler = async (c, next) => {
  const seen = new Set<string>();
  for (const name of new URL(c.req.url).searchParams.keys()) {
    if (seen.has(name)) refuse(`${name} is given more than once; give it once`);
    seen.add(name);
  }
  await next();
};

/** A yes/no option: `1`, `true`, `yes` or `0`, `false`, `no`; absent is no. Anything else (`force=`, `new_key=2`) is refused, not read as no. */
export function flagParam(raw: string | undefined, name: string): boolean {
  if (raw === undefined) return false;
  if (["1", "true", "yes"].includes(raw)) return true;
  if (["0", "false", "no"].includes(raw)) return false;
  refuse(`${name} must be 1 or 0 (or true/false, yes/no)`);
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
