/**
 * @module A fake Synology DSM Web API on loopback, HTTP or HTTPS with its own CA, built from
 * vendor-apis.md and DSM's Web API guide: SYNO.API.Info query, SYNO.API.Auth login/logout,
 * SYNO.Core.Certificate.CRT list and SYNO.Core.Certificate import. Its traps are DSM's:
 * - every error is HTTP 200 `{"success":false,"error":{"code":N}}`;
 * - a call without a valid `_sid` and SynoToken (header `X-SYNO-TOKEN` or query) gets 119;
 * - import takes multipart only, needs `key` and `cert` file parts, a key that matches, an
 *   `inter_cert` that issues the leaf; an unknown `id` fails; a replace keeps `services`;
 * - the web server restarts after an import: connections are refused for `restartMs`;
 * - 5 failed logins trigger the auto block (407);
 * - device tokens can be revoked; Auth v6 returns `did` instead of `device_id`;
 * - a redirect mode (DSM's "redirect HTTP to HTTPS"), and a count of open sessions.
 * Every request is recorded, so tests assert what was sent. `breakIt()`/`mend()` stop and
 * restart the listener, for the install contract. With `servedPort`, the default entry is
 * served over TLS there from each (re)start on, as DSM's desktop on 5001 (verify_served).
 */
import { X509Certificate, createPrivateKey, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { makeLoopbackTls } from "../harness/certs.ts";
import { freePort } from "../harness/ports.ts";
import { makeTempDir, removeTempDir } from "../harness/tmp.ts";

export interface FakeDsmUser {
  account: string;
  password: string;
  /** Member of administrators: may list and import certificates (105 otherwise). */
  admin?: boolean;
  /** The code the authenticator shows now; set: 2-step verification is on. */
  otp?: string;
  /** 2-step verification enforced for the account but not set up (406). */
  otpNotSetUp?: boolean;
}

export interface FakeDsmEntry {
  id: string;
  desc: string;
  is_default: boolean;
  /** OpenSSL's form, as DSM lists it. */
  valid_till: string;
  services: { service: string; display_name: string }[];
  certPem: string;
  keyPem: string;
  chainPem: string;
}

export interface DsmRequest {
  method: string;
  /** `/webapi/entry.cgi`, without the query. */
  path: string;
  /** The whole URL as received: what a proxy's access log keeps. */
  url: string;
  query: Record<string, string>;
  synoTokenHeader: string | null;
  contentType: string | null;
  /** The form fields; a file part as its text. */
  fields: Record<string, string>;
  /** Which fields were file parts. */
  files: string[];
  /** `api method` as DSM routes it. */
  call: string;
}

export interface FakeDsm {
  url: string;
  /** Where the default entry is served over TLS (a handshake tells its serial), when asked for. */
  servedPort: number | undefined;
  /** PEM path of the fake's own CA (HTTPS only). */
  caPath: string | undefined;
  requests: DsmRequest[];
  users: FakeDsmUser[];
  entries: FakeDsmEntry[];
  /** SYNO.API.Auth's maxVersion: 7 (DSM 7), 6 (DSM 6.2, returns `did`), lower: too old. */
  authMaxVersion: number;
  /** How long the web server is down after an import; 0: it stays up. */
  restartMs: number;
  /** Every reply is a 302 to this origin. */
  redirectTo: string | null;
  /** Sessions logged in and not logged out. */
  openSessions(): number;
  /** Device tokens DSM trusts, and whether each was revoked. */
  devices: Map<string, { account: string; name: string; revoked: boolean }>;
  revokeDevices(): void;
  /** Accounts DSM has disabled (401). */
  disabled: Set<string>;
  /** Consecutive failed logins; at 5 the auto block answers 407 to every login. */
  failedLogins: number;
  /** Forgets every session, as a DSM restart or an admin's "kick" does: the next call gets 119. */
  dropSessions(): void;
  /** Called with each request once recorded, before it is handled. */
  onRequest: ((r: DsmRequest) => void) | undefined;
  /** Calls by `api method`, e.g. `SYNO.API.Auth login`. */
  calls(call: string): DsmRequest[];
  /** Refuses connections until `mend()`. */
  breakIt(): Promise<void>;
  mend(): void;
  stop(): Promise<void>;
}

const AUTH_BLOCK_AFTER = 5;

export async function startFakeDsm(opts: { https?: boolean; users: FakeDsmUser[]; restartMs?: number; serveDefault?: boolean }): Promise<FakeDsm> {
  const tlsDir = opts.https ? makeTempDir("rota-fake-dsm-tls-") : undefined;
  const tls = tlsDir ? makeLoopbackTls(tlsDir) : undefined;
  const sessions = new Map<string, { account: string; synotoken: string }>();
  let server: ReturnType<typeof Bun.serve> | undefined;
  let served: ReturnType<typeof Bun.serve> | undefined;
  let port = 0;
  let restartTimer: ReturnType<typeof setTimeout> | undefined;

  const ok = (data: unknown = {}) => Response.json({ data, success: true });
  const fail = (code: number) => Response.json({ error: { code }, success: false });

  const fake: FakeDsm = {
    url: "",
    servedPort: opts.serveDefault ? await freePort() : undefined,
    caPath: tls?.caPath,
    requests: [],
    users: opts.users,
    entries: [],
    authMaxVersion: 7,
    restartMs: opts.restartMs ?? 1000,
    redirectTo: null,
    openSessions: () => sessions.size,
    devices: new Map(),
    revokeDevices() {
      for (const d of fake.devices.values()) d.revoked = true;
    },
    disabled: new Set(),
    failedLogins: 0,
    dropSessions: () => sessions.clear(),
    onRequest: undefined,
    calls: (call) => fake.requests.filter((r) => r.call === call),
    async breakIt() {
      clearTimeout(restartTimer);
      await server?.stop(true);
      server = undefined;
    },
    mend() {
      if (!server) listen();
    },
    async stop() {
      clearTimeout(restartTimer);
      await server?.stop(true);
      await served?.stop(true);
      server = undefined;
      if (tlsDir) removeTempDir(tlsDir);
    },
  };

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const query = Object.fromEntries(url.searchParams);
    const contentType = req.headers.get("content-type");
    const fields: Record<string, string> = {};
    const files: string[] = [];
    if (req.method === "POST" && contentType?.startsWith("multipart/form-data")) {
      for (const [k, v] of await req.formData()) {
        if (typeof v === "string") fields[k] = v;
        else {
          fields[k] = await v.text();
          files.push(k);
        }
      }
    } else if (req.method === "POST") {
      Object.assign(fields, Object.fromEntries(new URLSearchParams(await req.text())));
    }
    const p = { ...query, ...fields };
    const rec: DsmRequest = { method: req.method, path: url.pathname, url: req.url, query, synoTokenHeader: req.headers.get("x-syno-token"), contentType, fields, files, call: `${p.api} ${p.method}` };
    fake.requests.push(rec);
    fake.onRequest?.(rec);
    if (fake.redirectTo) return new Response(null, { status: 302, headers: { location: `${fake.redirectTo}${url.pathname}${url.search}` } });

    if (url.pathname === "/webapi/query.cgi" && p.api === "SYNO.API.Info") {
      const authPath = fake.authMaxVersion >= 7 ? "entry.cgi" : "auth.cgi";
      return ok({
        "SYNO.API.Auth": { maxVersion: fake.authMaxVersion, minVersion: 1, path: authPath },
        "SYNO.Core.Certificate": { maxVersion: 1, minVersion: 1, path: "entry.cgi" },
        "SYNO.Core.Certificate.CRT": { maxVersion: 1, minVersion: 1, path: "entry.cgi" },
      });
    }
    if (p.api === "SYNO.API.Auth" && p.method === "login") return login(p);
    if (p.api === "SYNO.API.Auth" && p.method === "logout") {
      sessions.delete(p._sid ?? "");
      return ok();
    }
    if (url.pathname !== "/webapi/entry.cgi") return new Response("Not Found", { status: 404 });
    // Everything past login: a session and its SynoToken, or DSM's 119.
    const session = sessions.get(p._sid ?? "");
    const token = rec.synoTokenHeader ?? query.SynoToken;
    if (!session || token !== session.synotoken) return fail(119);
    const user = fake.users.find((u) => u.account === session.account);
    if (!user?.admin) return fail(105);
    if (p.api === "SYNO.Core.Certificate.CRT" && p.method === "list") {
      return ok({ certificates: fake.entries.map(({ certPem: _c, keyPem: _k, chainPem: _ch, ...e }) => ({ ...e, issuer: {}, subject: {}, renewable: false })) });
    }
    if (p.api === "SYNO.Core.Certificate" && p.method === "import") {
      if (req.method !== "POST" || !contentType?.startsWith("multipart/form-data")) return fail(101);
      if (query._sid === undefined || query.SynoToken === undefined) return fail(119);
      const result = importCert(fields, files);
      if (typeof result === "number") return fail(result);
      // DSM restarts its web server to load the certificate: this answer still goes out, the next connection is refused.
      if (fake.restartMs > 0) restart();
      return ok({ id: result, restart_httpd: true });
    }
    return fail(103);
  }

  function login(p: Record<string, string | undefined>): Response {
    if (fake.failedLogins >= AUTH_BLOCK_AFTER) return fail(407);
    const user = fake.users.find((u) => u.account === p.account);
    const failed = (code: number) => {
      fake.failedLogins++;
      return fail(code);
    };
    if (!user || user.password !== p.passwd) return failed(400);
    if (fake.disabled.has(user.account)) return failed(401);
    if (user.otpNotSetUp) return fail(406);
    let deviceId: string | undefined;
    if (user.otp !== undefined) {
      const device = p.device_id === undefined ? undefined : fake.devices.get(p.device_id);
      const trusted = device !== undefined && !device.revoked && device.account === user.account;
      if (!trusted) {
        if (p.otp_code === undefined) return failed(403);
        if (p.otp_code !== user.otp) return failed(404);
        if (p.enable_device_token === "yes") {
          deviceId = randomBytes(24).toString("base64url");
          fake.devices.set(deviceId, { account: user.account, name: p.device_name ?? "", revoked: false });
        }
      }
    }
    fake.failedLogins = 0;
    const sid = randomBytes(16).toString("base64url");
    const synotoken = p.enable_syno_token === "yes" ? randomBytes(8).toString("base64url") : "";
    sessions.set(sid, { account: user.account, synotoken });
    const device = deviceId === undefined ? {} : fake.authMaxVersion >= 7 ? { device_id: deviceId } : { did: deviceId };
    return ok({ sid, synotoken, is_portal_port: false, ...device });
  }

  /** The entry's id, or DSM's error code. */
  function importCert(fields: Record<string, string>, files: string[]): string | number {
    if (!files.includes("key") || !files.includes("cert")) return 5519;
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(fields.cert!);
      if (!leaf.checkPrivateKey(createPrivateKey(fields.key!))) return 5520;
    } catch {
      return 5520;
    }
    const chainPem = fields.inter_cert ?? "";
    if (chainPem !== "") {
      try {
        const issuer = new X509Certificate(chainPem);
        if (!leaf.checkIssued(issuer) || !leaf.verify(issuer.publicKey)) return 5521;
      } catch {
        return 5521;
      }
    }
    const id = fields.id ?? "";
    const existing = id === "" ? undefined : fake.entries.find((e) => e.id === id);
    if (id !== "" && !existing) return 5599;
    const asDefault = fields.as_default === "true";
    if (asDefault) for (const e of fake.entries) e.is_default = false;
    const values = { desc: fields.desc ?? "", valid_till: leaf.validTo, certPem: fields.cert!, keyPem: fields.key!, chainPem };
    if (existing) {
      Object.assign(existing, values, asDefault ? { is_default: true } : {});
      return existing.id;
    }
    const created: FakeDsmEntry = { id: randomBytes(4).toString("base64url").replace(/[-_]/g, "x"), is_default: asDefault, services: [], ...values };
    fake.entries.push(created);
    return created.id;
  }

  function restart(): void {
    void server?.stop(false);
    server = undefined;
    restartTimer = setTimeout(() => fake.mend(), fake.restartMs);
  }

  /** The web server loads the default certificate when it starts. */
  function serveDefault(): void {
    void served?.stop(true);
    served = undefined;
    const entry = fake.entries.find((e) => e.is_default && e.certPem && e.keyPem);
    if (fake.servedPort === undefined || !entry) return;
    served = Bun.serve({ hostname: "127.0.0.1", port: fake.servedPort, tls: { cert: entry.certPem + entry.chainPem, key: entry.keyPem }, fetch: () => new Response("DSM") });
  }

  function listen(): void {
    serveDefault();
    server = Bun.serve({
      hostname: "127.0.0.1",
      port,
      fetch: handle,
      ...(tls && { tls: { cert: readFileSync(tls.certPath, "utf8"), key: readFileSync(tls.keyPath, "utf8") } }),
    });
    port = server.port!;
  }

  listen();
  fake.url = `${opts.https ? "https" : "http"}://127.0.0.1:${port}`;
  return fake;
}

/** An entry as DSM ships it (the self-signed default), bound to the desktop. */
export function dsmEntry(over: Partial<FakeDsmEntry> & Pick<FakeDsmEntry, "id" | "desc">): FakeDsmEntry {
  return { is_default: false, valid_till: "Jan  1 00:00:00 2031 GMT", services: [], certPem: "", keyPem: "", chainPem: "", ...over };
}
