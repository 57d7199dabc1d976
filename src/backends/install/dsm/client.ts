/**
 * @module The raw Synology DSM Web API, only the calls a certificate import needs: API
 * discovery (SYNO.API.Info), login and logout (SYNO.API.Auth), and SYNO.Core.Certificate's
 * list and import (vendor-apis.md; acme.sh's deploy/synology_dsm.sh does the same).
 * DSM answers HTTP 200 with `{"success":false,"error":{"code":N}}`, so `success` is read,
 * never only the status. Messages name the API and method, never a URL: URLs carry the
 * session id. Redirects are never followed: a redirect sends the password elsewhere.
 */
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { dsmErrorText } from "./errors.ts";

/** Auth v7 is DSM 7's; v6 is DSM 6.2's, the oldest with device tokens (`did`). */
const AUTH_VERSION_MAX = 7;
const AUTH_VERSION_MIN = 6;
const AUTH = "SYNO.API.Auth";
const CRT = "SYNO.Core.Certificate.CRT";
const CERT = "SYNO.Core.Certificate";

export interface DsmTls {
  /** PEM of the CAs to trust instead of the system's. */
  ca?: string;
  serverName?: string;
  rejectUnauthorized: boolean;
}

export interface DsmClientOptions {
  /** DSM's origin, no trailing slash. */
  url: string;
  /** `dsm <name>`, the prefix of every message. */
  who: string;
  /** Per request; the caller's signal may cut it shorter. */
  timeoutMs: number;
  tls?: DsmTls;
  clock: Clock;
}

/** Where each API lives, as SYNO.API.Info says. */
export interface DsmApis {
  auth: { path: string; version: number };
  crt: { path: string; version: number };
  cert: { path: string; version: number };
}

export interface DsmSession {
  sid: string;
  synotoken: string;
  /** Returned by a login that asked for a device token (`device_id`, `did` on Auth v6). */
  deviceId?: string;
}

export interface DsmLogin {
  account: string;
  passwd: string;
  deviceName: string;
  /** A stored device token: the login needs no 2-step code. */
  deviceId?: string;
  /** A 2-step code; with it, DSM is asked for a device token. */
  otpCode?: string;
}

/** One entry of SYNO.Core.Certificate.CRT list. */
export interface DsmCertificate {
  id: string;
  desc: string;
  is_default: boolean;
  /** OpenSSL's form, `Jun 10 23:59:59 2030 GMT`. */
  valid_till: string;
  services?: unknown[];
}

export interface DsmImport {
  keyPem: string;
  certPem: string;
  chainPem: string;
  /** The entry replaced in place; "" creates one. */
  id: string;
  desc: string;
  asDefault: boolean;
}

/** A `success: false` answer; `dsmCode` is DSM's number. */
export class DsmApiError extends RotaError {
  constructor(
    readonly dsmCode: number,
    message: string,
    options: { noRetry?: boolean } = {},
  ) {
    super("dsm_error", message, options);
  }
}

export class DsmClient {
  constructor(private readonly o: DsmClientOptions) {}

  async discover(signal: AbortSignal): Promise<DsmApis> {
    const query = new URLSearchParams({ api: "SYNO.API.Info", version: "1", method: "query", query: [AUTH, CERT, CRT].join(",") });
    const data = await this.call<Record<string, { path?: string; maxVersion?: number; minVersion?: number }>>("SYNO.API.Info query", "GET", `query.cgi?${query}`, undefined, {}, signal);
    const api = (name: string, max: number) => {
      const info = data?.[name];
      if (typeof info?.path !== "string" || typeof info.maxVersion !== "number") {
        throw new RotaError("dsm_unsupported", `${this.o.who}: DSM does not offer ${name}: DSM 6.2 or later needed`, { noRetry: true });
      }
      return { path: info.path, version: Math.min(info.maxVersion, max) };
    };
    const auth = api(AUTH, AUTH_VERSION_MAX);
    if (auth.version < AUTH_VERSION_MIN) {
      throw new RotaError("dsm_unsupported", `${this.o.who}: DSM offers ${AUTH} version ${auth.version} only: DSM 6.2 or later needed`, { noRetry: true });
    }
    return { auth, crt: api(CRT, 1), cert: api(CERT, 1) };
  }

  /** The password goes in the POST body, never in the URL. */
  async login(apis: DsmApis, l: DsmLogin, signal: AbortSignal): Promise<DsmSession> {
    const form = new URLSearchParams({
      api: AUTH,
      version: String(apis.auth.version),
      method: "login",
      account: l.account,
      passwd: l.passwd,
      format: "sid",
      enable_syno_token: "yes",
    });
    if (l.otpCode !== undefined) {
      form.set("otp_code", l.otpCode);
      form.set("enable_device_token", "yes");
      form.set("device_name", l.deviceName);
    } else if (l.deviceId !== undefined) {
      form.set("device_name", l.deviceName);
      form.set("device_id", l.deviceId);
    }
    const data = await this.call<{ sid?: string; synotoken?: string; device_id?: string; did?: string }>(
      `${AUTH} login`,
      "POST",
      apis.auth.path,
      form,
      {},
      signal,
      { tokenSent: l.deviceId !== undefined && l.otpCode === undefined },
    );
    if (typeof data?.sid !== "string" || data.sid === "") throw new RotaError("dsm_protocol", `${this.o.who}: ${AUTH} login: DSM answered success without a session id`);
    const deviceId = data.device_id ?? data.did;
    return { sid: data.sid, synotoken: data.synotoken ?? "", ...(typeof deviceId === "string" && deviceId !== "" && { deviceId }) };
  }

  async logout(apis: DsmApis, s: DsmSession, signal: AbortSignal): Promise<void> {
    const query = new URLSearchParams({ api: AUTH, version: String(apis.auth.version), method: "logout", _sid: s.sid });
    await this.call(`${AUTH} logout`, "GET", `${apis.auth.path}?${query}`, undefined, {}, signal);
  }

  async list(apis: DsmApis, s: DsmSession, signal: AbortSignal): Promise<DsmCertificate[]> {
    const query = new URLSearchParams({ api: CRT, version: String(apis.crt.version), method: "list", _sid: s.sid });
    const data = await this.call<{ certificates?: DsmCertificate[] }>(`${CRT} list`, "GET", `${apis.crt.path}?${query}`, undefined, { "X-SYNO-TOKEN": s.synotoken }, signal);
    if (!Array.isArray(data?.certificates)) throw new RotaError("dsm_protocol", `${this.o.who}: ${CRT} list: DSM answered without a certificate list`);
    return data.certificates;
  }

  /** Multipart, as DSM's own UI sends it; returns the entry's id (the same one when replacing). */
  async import(apis: DsmApis, s: DsmSession, imp: DsmImport, signal: AbortSignal): Promise<string> {
    const query = new URLSearchParams({ api: CERT, version: String(apis.cert.version), method: "import", SynoToken: s.synotoken, _sid: s.sid });
    const form = new FormData();
    form.append("key", new Blob([imp.keyPem], { type: "application/x-x509-ca-cert" }), "privkey.pem");
    form.append("cert", new Blob([imp.certPem], { type: "application/x-x509-ca-cert" }), "cert.pem");
    form.append("inter_cert", new Blob([imp.chainPem], { type: "application/x-x509-ca-cert" }), "chain.pem");
    form.append("id", imp.id);
    form.append("desc", imp.desc);
    if (imp.asDefault) form.append("as_default", "true");
    const data = await this.call<{ id?: string }>(`${CERT} import`, "POST", `${apis.cert.path}?${query}`, form, { "X-SYNO-TOKEN": s.synotoken }, signal);
    const id = data?.id ?? imp.id;
    if (typeof id !== "string" || id === "") throw new RotaError("dsm_protocol", `${this.o.who}: ${CERT} import: DSM answered success without the certificate's id`);
    return id;
  }

  private async call<T>(
    what: string,
    method: "GET" | "POST",
    path: string,
    body: URLSearchParams | FormData | undefined,
    headers: Record<string, string>,
    signal: AbortSignal,
    errorOpts: { tokenSent?: boolean } = {},
  ): Promise<T> {
    const { who } = this.o;
    const res = await this.send(what, method, path, body, headers, signal);
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get("location");
      throw new RotaError("dsm_redirect", `${who}: ${what}: DSM redirects to ${redirectOrigin(location, this.o.url)}; set url to it`, { noRetry: true });
    }
    const text = await res.text().catch(() => "");
    let reply: { success?: unknown; data?: T; error?: { code?: unknown } } | undefined;
    try {
      reply = JSON.parse(text) as typeof reply;
    } catch {
      reply = undefined;
    }
    if (res.status !== 200 || reply === undefined || typeof reply !== "object" || reply === null) {
      throw new RotaError("dsm_protocol", `${who}: ${what}: HTTP ${res.status}, not a DSM API reply`, { retryAfterSeconds: res.status >= 500 ? 30 : undefined });
    }
    if (reply.success === true) return reply.data as T;
    const code = typeof reply.error?.code === "number" ? reply.error.code : -1;
    throw new DsmApiError(code, `${who}: ${what}: ${code === -1 ? "DSM refused without an error code" : `${dsmErrorText(code, errorOpts)} (${code})`}`);
  }

  private async send(what: string, method: string, path: string, body: BodyInit | undefined, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const { who, timeoutMs } = this.o;
    const timer = new AbortController();
    const cancelTimer = this.o.clock.setTimeout(() => timer.abort(), timeoutMs);
    try {
      return await fetch(`${this.o.url}/webapi/${path}`, {
        method,
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.any([signal, timer.signal]),
        ...(this.o.tls && { tls: this.o.tls }),
      });
    } catch (err) {
      if (signal.aborted) throw new RotaError("aborted", `${who}: ${what}: cancelled`, { cause: signal.reason });
      if (timer.signal.aborted) throw new RotaError("timeout", `${who}: ${what}: no reply in ${timeoutMs / 1000} s`);
      // Not chained as the cause: Bun's fetch error carries the URL, and with it the session id.
      const code = typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : "connection failed";
      const hint = /CERT|SELF_SIGNED|VERIFY|ALTNAME/.test(code) ? " (DSM's TLS certificate is not trusted: set ca_bundle, or tls_server_name to the name it holds)" : "";
      throw new RotaError("unreachable", `${who}: ${what}: cannot reach DSM: ${code}${hint}`);
    } finally {
      cancelTimer();
    }
  }
}

/** Where a redirect leads, as an origin: `url` takes no path, and the path may carry the query we sent. */
function redirectOrigin(location: string | null, base: string): string {
  if (!location) return "another address (no Location)";
  try {
    return new URL(location, base).origin;
  } catch {
    return "an address that is not a URL";
  }
}

/** Whether the failure is the network's (a refused connection, a timeout), which DSM's web server restart causes. */
export function isConnectionError(err: unknown): boolean {
  return err instanceof RotaError && (err.code === "unreachable" || err.code === "timeout");
}
