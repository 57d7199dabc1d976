/**
 * @module ACME Renewal Information (RFC 9773) polled from the daemon, without acme-client:
 * the directory (cached 24 h) names `renewalInfo`, and `GET {renewalInfo}/{certID}` answers
 * the CA's suggested window with a Retry-After. Every fault (404, 5xx, HTML, a malformed or
 * inverted window) becomes an answer with `error` set and a poll an hour later, never a throw,
 * so the caller falls back to the lifetime rule.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { parseRetryAfter } from "../../../retry-after.ts";
import type { AriAnswer, CaAdvisor } from "../../types.ts";
import { ariCertId } from "./cert-id.ts";
import { profileNotOffered, type AcmeCertOptions, type AcmeConfig } from "./config.ts";

/** A CA that accepts a connection and never answers must not hold a poll for long. */
const REQUEST_TIMEOUT_MS = 8_000;
const DIRECTORY_TTL_MS = 24 * 3600_000;
/** RFC 9773 §4.3: clients should not poll more often than a minute, nor less often than a day. */
const MIN_RETRY_S = 60;
const MAX_RETRY_S = 24 * 3600;
const DEFAULT_RETRY_S = 6 * 3600;
const ERROR_RETRY_S = 3600;

interface Directory {
  renewalInfo: string | undefined;
  profiles: Record<string, string>;
}

export interface AdvisorDeps {
  clock: Clock;
}

/** Clamps a Retry-After (seconds, or undefined when absent or unreadable) into 60 s – 24 h. */
export function nextPollSeconds(retryAfter: number | undefined): number {
  if (retryAfter === undefined) return DEFAULT_RETRY_S;
  return Math.min(MAX_RETRY_S, Math.max(MIN_RETRY_S, retryAfter));
}

/**
 * Reads `{"suggestedWindow":{"start","end"},"explanationURL"?}`; the window's end is clamped
 * to the certificate's notAfter. Throws a message for what cannot be used.
 */
export function parseRenewalInfo(body: unknown, notAfter: Date): { window: { start: Date; end: Date }; explanationUrl: string | null } {
  const b = body as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown } | null;
  const w = b && typeof b === "object" ? b.suggestedWindow : undefined;
  if (!w || typeof w !== "object") throw new Error("the reply has no suggestedWindow");
  const start = typeof w.start === "string" ? new Date(w.start) : new Date(Number.NaN);
  const end = typeof w.end === "string" ? new Date(w.end) : new Date(Number.NaN);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) throw new Error("suggestedWindow's start or end is not a timestamp");
  if (end <= start) throw new Error(`suggestedWindow ends (${end.toISOString()}) before it starts (${start.toISOString()})`);
  if (start >= notAfter) throw new Error(`suggestedWindow starts (${start.toISOString()}) after the certificate's notAfter (${notAfter.toISOString()})`);
  const explanationUrl = typeof b!.explanationURL === "string" ? b!.explanationURL : null;
  return { window: { start, end: end > notAfter ? notAfter : end }, explanationUrl };
}

export function createAcmeAdvisor(name: string, cfg: AcmeConfig, deps: AdvisorDeps): CaAdvisor {
  const who = `acme ${name}`;
  let ca: string | undefined;
  let directory: { value: Directory; fetchedAt: number } | undefined;
  /** certIDs this CA answered renewalInfo for: only those may go into `replaces`. */
  const answered = new Set<string>();

  async function get(url: string, signal: AbortSignal | undefined): Promise<Response> {
    if (cfg.caBundle !== undefined) ca ??= readFileSync(cfg.caBundle, "utf8");
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    return fetch(url, {
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      headers: { accept: "application/json" },
      ...(ca === undefined ? {} : { tls: { ca } }),
    });
  }

  async function readDirectory(signal: AbortSignal | undefined): Promise<Directory> {
    const now = deps.clock.now().getTime();
    if (directory && now - directory.fetchedAt < DIRECTORY_TTL_MS && now >= directory.fetchedAt) return directory.value;
    let res: Response;
    try {
      res = await get(cfg.directoryUrl, signal);
    } catch (err) {
      throw new RotaError("network", `${who}: directory ${cfg.directoryUrl}: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok) throw new RotaError("ca_error", `${who}: directory ${cfg.directoryUrl}: HTTP ${res.status}`);
    const body = (await res.json().catch(() => null)) as { renewalInfo?: unknown; meta?: { profiles?: unknown } } | null;
    if (!body || typeof body !== "object") throw new RotaError("ca_error", `${who}: directory ${cfg.directoryUrl} is not JSON`);
    const profiles = body.meta?.profiles;
    const value: Directory = {
      renewalInfo: typeof body.renewalInfo === "string" ? body.renewalInfo.replace(/\/+$/, "") : undefined,
      profiles: profiles && typeof profiles === "object" ? (profiles as Record<string, string>) : {},
    };
    directory = { value, fetchedAt: now };
    return value;
  }

  return {
    async poll(leafPem, signal) {
      const leaf = new X509Certificate(leafPem);
      const certId = ariCertId(leaf.raw);
      if (certId === null) return { ari: false, reason: "the certificate has no authority key identifier" };
      const notAfter = new Date(leaf.validTo);
      const polledAt = deps.clock.now();
      if (polledAt >= notAfter) return { ari: false, reason: "the certificate has expired" };
      const answer = (error: string | null, retryS: number, found?: ReturnType<typeof parseRenewalInfo>): AriAnswer => ({
        ari: true,
        certId,
        window: found?.window ?? null,
        explanationUrl: found?.explanationUrl ?? null,
        polledAt,
        nextPollAt: new Date(Math.min(polledAt.getTime() + retryS * 1000, notAfter.getTime())),
        error,
      });
      let dir: Directory;
      try {
        dir = await readDirectory(signal);
      } catch (err) {
        return answer((err as Error).message, ERROR_RETRY_S);
      }
      if (dir.renewalInfo === undefined) return { ari: false, reason: `${who}: the directory offers no renewalInfo` };
      const url = `${dir.renewalInfo}/${certId}`;
      let res: Response;
      try {
        res = await get(url, signal);
      } catch (err) {
        return answer(`${who}: GET ${url}: ${(err as Error).message}`, ERROR_RETRY_S);
      }
      if (!res.ok) return answer(`${who}: GET ${url}: HTTP ${res.status}`, ERROR_RETRY_S);
      const retryS = nextPollSeconds(parseRetryAfter(res.headers.get("retry-after") ?? undefined, deps.clock.now()));
      try {
        const found = parseRenewalInfo(await res.json(), notAfter);
        answered.add(certId);
        return answer(null, retryS, found);
      } catch (err) {
        return answer(`${who}: GET ${url}: ${(err as Error).message}`, ERROR_RETRY_S);
      }
    },

    async replaces(leafPem, signal) {
      const certId = ariCertId(new X509Certificate(leafPem).raw);
      if (certId === null) return null;
      if (!answered.has(certId) && (await this.poll(leafPem, signal)).ari === false) return null;
      return answered.has(certId) ? certId : null;
    },

    async profiles(signal) {
      return Object.keys((await readDirectory(signal)).profiles);
    },

    async checkCertOptions(certOptions, signal) {
      const profile = (certOptions as AcmeCertOptions | undefined)?.profile;
      if (profile === undefined) return null;
      const offered = Object.keys((await readDirectory(signal)).profiles);
      return offered.includes(profile) ? null : profileNotOffered(who, profile, offered);
    },
  };
}
