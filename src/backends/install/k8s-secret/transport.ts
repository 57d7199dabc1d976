/**
 * @module The one way rota talks to an API server: Bun's fetch with the connection's TLS
 * (`tls: {ca, cert, key, serverName, rejectUnauthorized}`), its bearer token read per
 * request, a per-request timeout and the caller's AbortSignal. 429 and 5xx are retried
 * here, honouring Retry-After, so the read and the apply behave alike. `apiError` turns a
 * Kubernetes `Status` reply into a RotaError that says what to do. The client library's
 * own HTTP agent is never used: that agent is where Bun was seen to drop the kubeconfig's
 * CA ("unable to verify the first certificate"), so apply.ts hands this transport to it.
 */
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { parseRetryAfter } from "../../../retry-after.ts";
import { sleepOn } from "../../../sleep.ts";
import type { Connection } from "./connection.ts";

/** Tries per request while the server answers 429 or 5xx. */
const MAX_ATTEMPTS = 3;
/** A longer Retry-After is not waited out inside one install or read: the error carries it to the scheduler. */
export const MAX_RETRY_AFTER_SECONDS = 30;
/** A 429 or 5xx without Retry-After: the API server's priority-and-fairness queues drain within seconds. */
const DEFAULT_RETRY_SECONDS = 1;

export interface KubeResponse {
  status: number;
  headers: Headers;
  text: string;
}

export interface Transport {
  readonly server: string;
  /** `path` starts at the server root (`/api/v1/…`), query included. Rejects on no reply, never on a status. */
  send(method: string, path: string, init: { headers?: Record<string, string>; body?: string }, signal: AbortSignal): Promise<KubeResponse>;
}

export interface TransportOptions {
  /** The message prefix, `k8s-secret <name>`. */
  who: string;
  timeoutMs: number;
  clock: Clock;
}

export function createTransport(conn: Connection, o: TransportOptions): Transport {
  const tls = {
    ...(conn.ca !== undefined && { ca: conn.ca }),
    ...(conn.cert !== undefined && { cert: conn.cert, key: conn.key }),
    ...(conn.serverName !== undefined && { serverName: conn.serverName }),
    rejectUnauthorized: !conn.insecureSkipVerify,
  };

  async function once(method: string, path: string, init: { headers?: Record<string, string>; body?: string }, signal: AbortSignal): Promise<KubeResponse> {
    if (signal.aborted) throw new RotaError("aborted", `${o.who}: cancelled`, { cause: signal.reason });
    const headers = new Headers(init.headers);
    if (!headers.has("accept")) headers.set("accept", "application/json");
    const token = conn.token?.();
    if (token) headers.set("authorization", `Bearer ${token}`);
    const timer = new AbortController();
    const cancelTimer = o.clock.setTimeout(() => timer.abort(), o.timeoutMs);
    try {
      const res = await fetch(`${conn.server}${path}`, {
        method,
        headers,
        body: init.body,
        signal: AbortSignal.any([signal, timer.signal]),
        redirect: "manual",
        tls,
      } as RequestInit);
      return { status: res.status, headers: res.headers, text: await res.text() };
    } catch (err) {
      if (signal.aborted) throw new RotaError("aborted", `${o.who}: cancelled`, { cause: signal.reason });
      if (timer.signal.aborted) throw new RotaError("timeout", `${o.who}: ${conn.server}: no reply in ${o.timeoutMs / 1000} s`);
      // Not chained as the cause: Bun's fetch error may carry the request, token included.
      const e = err as { code?: unknown; message?: unknown };
      const code = typeof e.code === "string" ? e.code : "";
      const hint = /CERT|SELF_SIGNED|VERIFY|ISSUER/i.test(code) ? " (check certificate-authority in the kubeconfig, or the service account's ca.crt)" : "";
      throw new RotaError("unreachable", `${o.who}: ${conn.server}: ${[code, String(e.message ?? err)].filter(Boolean).join(" ")}${hint}`);
    } finally {
      cancelTimer();
    }
  }

  return {
    server: conn.server,
    async send(method, path, init, signal) {
      for (let attempt = 1; ; attempt++) {
        const res = await once(method, path, init, signal);
        if (res.status !== 429 && res.status < 500) return res;
        const wait = parseRetryAfter(res.headers.get("retry-after") ?? undefined, o.clock.now()) ?? DEFAULT_RETRY_SECONDS;
        if (attempt >= MAX_ATTEMPTS || wait > MAX_RETRY_AFTER_SECONDS) return res;
        await sleepOn(o.clock, wait * 1000, signal).catch((err: unknown) => {
          throw new RotaError("aborted", `${o.who}: cancelled`, { cause: err });
        });
      }
    },
  };
}

/** A Kubernetes `Status` reply, the parts rota reads. */
interface Status {
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string; field?: string }[] };
}

function parseStatus(text: string): Status | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === "object" && (v as { kind?: unknown }).kind === "Status" ? (v as Status) : undefined;
  } catch {
    return undefined;
  }
}

/** What an operator reads for a reply that is not a success, on the Secret `<ns>/<name>`. */
export function apiError(who: string, res: KubeResponse, target: { namespace: string; name: string }, now: Date): RotaError {
  const status = parseStatus(res.text);
  const said = status?.message?.slice(0, 400) ?? `HTTP ${res.status}${res.text ? ` ${JSON.stringify(res.text.slice(0, 80))}` : ""}`;
  if (res.status === 429 || res.status >= 500) {
    const retryAfterSeconds = parseRetryAfter(res.headers.get("retry-after") ?? undefined, now);
    return new RotaError(res.status === 429 ? "rate_limited" : "unavailable", `${who}: ${said} (HTTP ${res.status})`, { retryAfterSeconds });
  }
  if (res.status === 401) return new RotaError("unauthorized", `${who}: ${said} (HTTP 401): the API server did not accept the token or client certificate`);
  if (res.status === 403) {
    return new RotaError("forbidden", `${who}: ${said}; rota needs get, create and patch on secrets in ${target.namespace}: docs/kubernetes/rbac.yaml`, { noRetry: true });
  }
  if (res.status === 409) {
    const conflicts = (status?.details?.causes ?? []).filter((c) => c.reason === "FieldManagerConflict");
    if (conflicts.length > 0) {
      const byManager = new Map<string, string[]>();
      for (const c of conflicts) {
        const manager = /conflict with "([^"]+)"/.exec(c.message ?? "")?.[1] ?? "(unknown)";
        byManager.set(manager, [...(byManager.get(manager) ?? []), c.field ?? "(a field)"]);
      }
      const owned = [...byManager].map(([m, fields]) => `field manager ${m} owns ${fields.join(", ")}`);
      return new RotaError("conflict", `${who}: ${owned.join("; ")}; set force = true to take the Secret over`, { noRetry: true });
    }
  }
  const code = res.status === 404 ? "not_found" : res.status === 422 ? "invalid" : "refused";
  return new RotaError(code, `${who}: ${said} (HTTP ${res.status})`, { noRetry: true });
}
