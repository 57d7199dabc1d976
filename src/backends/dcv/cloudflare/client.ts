/**
 * @module The raw Cloudflare v4 API, only the calls DNS-01 needs: zones by name, and
 * listing, creating and deleting DNS records. Every reply is the v4 envelope
 * `{success, errors: [{code, message}], messages, result}`, also on 4xx/5xx
 * (https://developers.cloudflare.com/api/); this file turns it into RotaErrors that
 * name Cloudflare's code and message, and never the token.
 */
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { parseRetryAfter } from "../../../retry-after.ts";
import { WRITE_SETTLE_MS } from "../unfinished.ts";

/** Each call tries at most this often when Cloudflare answers 429. */
const MAX_ATTEMPTS = 3;
/** A longer Retry-After is not waited out inside a renewal: the error carries it to the scheduler. */
export const MAX_RETRY_AFTER_SECONDS = 30;
/** A 429 without Retry-After: Cloudflare's limits are per 5 minutes, a short pause is a fair first guess. */
const DEFAULT_RETRY_SECONDS = 2;
/** A reply that never comes must not hold a renewal: the step's own signal is the caller's, this is the floor. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Cloudflare's "Invalid access token": a 403 with it is a bad token, not a missing permission. */
const INVALID_TOKEN = 9109;
/** "An identical record already exists." (a concurrent publish won the race). */
export const IDENTICAL_RECORD = 81058;

export interface Zone {
  id: string;
  name: string;
}

export interface DnsRecord {
  id: string;
  type: string;
  name: string;
  content: string;
  ttl: number;
}

interface Envelope<T> {
  success?: boolean;
  errors?: { code?: number; message?: string }[];
  result?: T;
}

export interface CloudflareClientOptions {
  /** The API base including `/client/v4`, no trailing slash. */
  apiUrl: string;
  token: string;
  /** The message prefix, `cloudflare <name>`. */
  who: string;
  clock: Clock;
  /** How long a create, once sent, is waited for at most (WRITE_SETTLE_MS unless given): its caller may stop waiting sooner, the request runs on. */
  settleMs?: number;
}

/** What a 403 on this kind of call most likely lacks, in the dashboard's words. */
type Need = "Zone:Read" | "DNS:Edit";

export class CloudflareClient {
  constructor(private readonly o: CloudflareClientOptions) {}

  /** The zone called exactly `name` the token can see, or undefined. */
  async zoneByName(name: string, signal: AbortSignal): Promise<Zone | undefined> {
    const zones = await this.call<Zone[]>("GET", `/zones?${new URLSearchParams({ name })}`, undefined, "Zone:Read", signal);
    return (zones ?? []).find((z) => z.name === name);
  }

  /** Records named exactly `name` (no trailing dot) in the zone: of `type`, or of every type when it is unset. */
  async recordsAt(zoneId: string, name: string, type: "TXT" | undefined, signal: AbortSignal): Promise<DnsRecord[]> {
    // 100 is the most a page holds; more challenge values than that at one name never happen.
    const q = new URLSearchParams({ ...(type === undefined ? {} : { type }), name, per_page: "100" });
    return (await this.call<DnsRecord[]>("GET", `/zones/${encodeURIComponent(zoneId)}/dns_records?${q}`, undefined, "DNS:Edit", signal)) ?? [];
  }

  /** Zones the token can see, the first page: a read that proves the token (rota doctor). */
  async zones(signal: AbortSignal): Promise<Zone[]> {
    return (await this.call<Zone[]>("GET", "/zones?per_page=50", undefined, "Zone:Read", signal)) ?? [];
  }

  /** At most one TXT record of the zone: a read that proves DNS access to it (rota doctor). */
  async someTxt(zoneId: string, signal: AbortSignal): Promise<DnsRecord[]> {
    const q = new URLSearchParams({ type: "TXT", per_page: "1" });
    return (await this.call<DnsRecord[]>("GET", `/zones/${encodeURIComponent(zoneId)}/dns_records?${q}`, undefined, "DNS:Edit", signal)) ?? [];
  }

  /**
   * Creates a TXT record. `signal` stops it before a request is sent and during a wait after a
   * 429; a request sent is waited out to its reply or its connection's end (`settleMs` at most),
   * never cut off: Cloudflare may create the record all the same, and only its reply tells the caller it exists.
   */
  async createTxt(zoneId: string, rec: { name: string; content: string; ttl: number }, signal: AbortSignal): Promise<DnsRecord> {
    return this.call<DnsRecord>("POST", `/zones/${encodeURIComponent(zoneId)}/dns_records`, { type: "TXT", ...rec }, "DNS:Edit", signal, "finish");
  }

  /** As `createTxt`, for a CNAME. Never proxied: a proxied record answers with Cloudflare's addresses and hides the CNAME from the CA. */
  async createCname(zoneId: string, rec: { name: string; content: string; ttl: number }, signal: AbortSignal): Promise<DnsRecord> {
    return this.call<DnsRecord>("POST", `/zones/${encodeURIComponent(zoneId)}/dns_records`, { type: "CNAME", ...rec, proxied: false }, "DNS:Edit", signal, "finish");
  }

  async deleteRecord(zoneId: string, recordId: string, signal: AbortSignal): Promise<void> {
    await this.call<unknown>("DELETE", `/zones/${encodeURIComponent(zoneId)}/dns_records/${encodeURIComponent(recordId)}`, undefined, "DNS:Edit", signal);
  }

  /** `sent`: what `signal` does to a request already sent, cut it off (reads, deletes) or wait for its reply (creates). */
  private async call<T>(method: string, path: string, body: unknown, need: Need, signal: AbortSignal, sent: "cut" | "finish" = "cut"): Promise<T> {
    const { who } = this.o;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason });
      const res = await this.send(method, path, body, sent === "cut" ? signal : undefined, sent === "cut" ? REQUEST_TIMEOUT_MS : (this.o.settleMs ?? WRITE_SETTLE_MS));
      const text = await res.text().catch(() => "");
      const envelope = parseEnvelope<T>(text);
      if (res.ok && envelope?.success === true) return envelope.result as T;
      const retryAfter = parseRetryAfter(res.headers.get("retry-after") ?? undefined, this.o.clock.now());
      // A reply may echo the request; the token never reaches a message.
      const message = `${who}: ${describe(res.status, envelope, text)}`.split(this.o.token).join("[redacted]");
      if (res.status === 429) {
        const wait = retryAfter ?? DEFAULT_RETRY_SECONDS;
        if (attempt >= MAX_ATTEMPTS || wait > MAX_RETRY_AFTER_SECONDS) {
          throw new RotaError("rate_limited", `${message} (rate limited)`, { retryAfterSeconds: wait });
        }
        await this.wait(wait * 1000, signal);
        continue;
      }
      if (res.status >= 500) throw new RotaError("unavailable", message, { retryAfterSeconds: retryAfter });
      const codes = envelope?.errors?.map((e) => e.code) ?? [];
      if (res.status === 403 && !codes.includes(INVALID_TOKEN)) {
        throw new RotaError("forbidden", `${message} (the API token needs the ${need} permission${need === "Zone:Read" ? ", or set zone_id" : " on this zone"})`, { noRetry: true });
      }
      const code = codes.includes(IDENTICAL_RECORD) ? "identical_record" : res.status === 404 ? "not_found" : "refused";
      throw new RotaError(code, message, { noRetry: true });
    }
  }

  /** One request, cut off when `signal` (if any) fires or after `limitMs`. */
  private async send(method: string, path: string, body: unknown, signal: AbortSignal | undefined, limitMs: number): Promise<Response> {
    const { who } = this.o;
    const timer = new AbortController();
    const cancelTimer = this.o.clock.setTimeout(() => timer.abort(), limitMs);
    try {
      return await fetch(`${this.o.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.o.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal === undefined ? timer.signal : AbortSignal.any([signal, timer.signal]),
        redirect: "manual",
      });
    } catch (err) {
      if (signal?.aborted) throw new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason });
      if (timer.signal.aborted) throw new RotaError("timeout", `${who}: ${method} ${path.split("?")[0]}: no reply in ${limitMs / 1000} s`);
      // Not chained as the cause: Bun's fetch error can carry the request, token included.
      const e = err as { code?: unknown; message?: unknown };
      throw new RotaError("unreachable", `${who}: ${this.o.apiUrl}: ${typeof e.code === "string" ? e.code : String(e.message ?? err)}`);
    } finally {
      cancelTimer();
    }
  }

  private wait(ms: number, signal: AbortSignal): Promise<void> {
    const who = this.o.who;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason }));
      const onAbort = () => {
        cancel();
        reject(new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason }));
      };
      const cancel = this.o.clock.setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function parseEnvelope<T>(text: string): Envelope<T> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === "object" ? (v as Envelope<T>) : undefined;
  } catch {
    return undefined;
  }
}

/** "9109 Invalid access token", each error of the envelope; the HTTP status when there is none. */
function describe(status: number, envelope: Envelope<unknown> | undefined, text: string): string {
  const errors = (envelope?.errors ?? []).filter((e) => e.code !== undefined || e.message);
  if (errors.length > 0) return errors.map((e) => [e.code, e.message].filter((p) => p !== undefined && p !== "").join(" ")).join("; ");
  if (envelope === undefined) return `HTTP ${status}: not a Cloudflare API reply${text ? ` (${JSON.stringify(text.slice(0, 80))})` : ""}`;
  return `HTTP ${status} without an error`;
}
