/**
 * @module The HTTP transport under acme-client. acme-client retries any error without a
 * response for ~75 s and then masks it behind a TypeError; this adapter takes over:
 * bounded retries, the real cause surfaced, per-CA TLS trust (`ca_bundle`, no
 * NODE_EXTRA_CA_CERTS), cancellation through the caller's AbortSignal, and rate-limit
 * replies turned into errors that carry the CA's Retry-After, and every other ACME problem
 * (but badNonce, acme-client's to retry with a fresh nonce) thrown at once as a RotaError
 * carrying its `acmeType`: acme-client keeps only the detail, and a resent request would
 * answer badNonce and hide the first problem (pebble 2.10's 500 on a `replaces` whose
 * serial needs a 0x00 byte, issue 12). Each request is one debug
 * line: method, URL, status and time, never a header or a body (they carry the account's
 * signatures and the EAB binding).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Agent } from "node:https";
import axios, { type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from "axios";
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import type { Logger } from "../../../log.ts";
import { parseRetryAfter } from "../../../retry-after.ts";
import { sleep } from "../../../sleep.ts";

/** What one ACME call runs under: its CA's trust and its caller's cancellation. */
export interface RequestScope {
  who: string;
  clock: Clock;
  signal: AbortSignal;
  httpsAgent: Agent | undefined;
  log: Logger;
}

const scope = new AsyncLocalStorage<RequestScope>();

/** Runs `fn` with every ACME request inside it using `s`. */
export function withScope<T>(s: RequestScope, fn: () => Promise<T>): Promise<T> {
  return scope.run(s, fn);
}

/** Waits between attempts after a network error; three tries fit well inside 10 s. */
const NETWORK_RETRY_DELAYS_MS = [300, 1200];
/** A Retry-After up to this long is waited out in place; a longer one ends the renewal with a cooldown. */
const MAX_INLINE_RETRY_AFTER_S = 5;
/** A CA that accepts connections and never answers must still fail a renewal within 10 s; timeouts are not retried. */
const REQUEST_TIMEOUT_MS = 8_000;

/** TLS failures do not heal by retrying a second later. */
const PERMANENT_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_UNTRUSTED",
]);

const PROBLEM_PREFIX = "urn:ietf:params:acme:error:";

/** An ACME problem document the CA answered (RFC 8555 §6.7), its type in short form in `acmeType`. */
export class AcmeProblem extends RotaError {
  declare readonly acmeType: string;
  constructor(
    message: string,
    /** The problem's own text, without who asked or what for. */
    readonly detail: string,
    acmeType: string,
    readonly status: number,
  ) {
    super("ca_error", message, { acmeType });
  }
}

/** The reply's RFC 7807 problem: its detail (or the text), and its ACME type in short form when it has one. */
function problemOf(data: unknown): { detail: string; acmeType: string | undefined } {
  const text = typeof data === "string" ? data : Buffer.isBuffer(data) ? data.toString("utf8") : JSON.stringify(data);
  try {
    const body = JSON.parse(text) as { detail?: unknown; type?: unknown };
    const type = typeof body.type === "string" ? body.type : undefined;
    const acmeType = type?.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : undefined;
    return { detail: typeof body.detail === "string" ? body.detail : (type ?? text), acmeType };
  } catch {
    return { detail: text.slice(0, 200), acmeType: undefined };
  }
}

function networkError(err: unknown, url: string, who: string): RotaError {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const msg = e.message || e.cause?.message || String(err);
  return new RotaError(code === "ECONNABORTED" ? "timeout" : "network", `${who}: ${new URL(url).origin}: ${msg}${code && !msg.includes(code) ? ` (${code})` : ""}`, {
    cause: err,
    noRetry: code !== undefined && PERMANENT_CODES.has(code),
  });
}

/**
 * Installs the adapter on acme-client's axios instance (once per process). Errors thrown
 * here carry no `config`, which makes acme-client's own retry interceptor pass them through.
 */
export function installTransport(instance: { defaults: { adapter?: unknown; acmeSettings?: { retryMaxAttempts: number } } }): void {
  if (instance.defaults.adapter === adapter) return;
  instance.defaults.adapter = adapter;
  if (instance.defaults.acmeSettings) instance.defaults.acmeSettings.retryMaxAttempts = 0;
}

const httpAdapter = axios.getAdapter("http");

const adapter: AxiosAdapter = async (config: InternalAxiosRequestConfig): Promise<AxiosResponse> => {
  const s = scope.getStore();
  const who = s?.who ?? "acme";
  const url = axios.getUri(config);
  const request = `${who}: ${(config.method ?? "get").toUpperCase()} ${url}`;
  if (s?.httpsAgent) config.httpsAgent = s.httpsAgent;
  config.timeout = REQUEST_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    if (s?.signal.aborted) throw new RotaError("aborted", `${who}: cancelled`, { cause: s.signal.reason });
    let response: AxiosResponse;
    const started = performance.now();
    const took = () => `in ${Math.round(performance.now() - started)} ms`;
    try {
      // The signal goes on a copy: axios turns a signal it can see on the request's own
      // config into a CanceledError that acme-client's interceptor then masks.
      response = await httpAdapter(s ? { ...config, signal: s.signal } : config);
      s?.log.debug(`${request} ${response.status} ${took()}`);
    } catch (err) {
      const res = (err as { response?: AxiosResponse }).response;
      const e = err as { code?: string; cause?: { code?: string } };
      s?.log.debug(`${request} ${res ? res.status : `failed (${e.code ?? e.cause?.code ?? "no reply"})`} ${took()}`);
      // acme-client routes every reply through its error interceptor; only rate limits are ours.
      if (res && res.status !== 429 && res.status !== 503) {
        const problem = res.status >= 400 ? problemOf(res.data) : undefined;
        if (problem?.acmeType === undefined || problem.acmeType === "badNonce") throw err;
        const detail = `${problem.detail} (HTTP ${res.status} ${problem.acmeType})`;
        throw new AcmeProblem(`${who}: ${detail}`, detail, problem.acmeType, res.status);
      }
      if (res) {
        response = res;
      } else {
        if (s?.signal.aborted) throw new RotaError("aborted", `${who}: cancelled`, { cause: s.signal.reason });
        const wrapped = networkError(err, url, who);
        const delay = NETWORK_RETRY_DELAYS_MS[attempt];
        if (wrapped.noRetry || wrapped.code === "timeout" || delay === undefined) throw wrapped;
        await sleep(delay, s?.signal);
        continue;
      }
    }
    if (response.status === 429 || response.status === 503) {
      const retryAfter = parseRetryAfter(response.headers["retry-after"], s?.clock.now() ?? new Date());
      if (retryAfter !== undefined && retryAfter <= MAX_INLINE_RETRY_AFTER_S && attempt < 2) {
        await sleep(retryAfter * 1000, s?.signal);
        continue;
      }
      const problem = problemOf(response.data);
      throw new RotaError(response.status === 429 ? "rate_limited" : "unavailable", `${who}: ${problem.detail} (HTTP ${response.status})`, {
        retryAfterSeconds: retryAfter,
        acmeType: problem.acmeType,
      });
    }
    return response;
  }
};
