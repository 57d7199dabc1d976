/**
 * @module The `[http]` section: the TCP listener for the API (and later the dashboard).
 * No section, no listener. Checked here: a bind address (never a hostname), a token of
 * at least 16 printable ASCII characters from a file or the environment, TLS or an explicit
 * `allow_plain_http` off loopback.
 */
import { isIP } from "node:net";
import type { BackendSection, CertConfig, HttpConfig, HttpListen, HttpTls } from "./schema.ts";
import { quote, type Reader } from "./reader.ts";
import { readSecret } from "./secret.ts";

/** Short tokens fall to guessing: 16 characters of base64 are 96 bits. */
const MIN_TOKEN_LENGTH = 16;
const MAKE_TOKEN = "make one with: head -c 32 /dev/urandom | base64";
const MAX_SESSION_HOURS = 24 * 366;

/** `host:port` with an IPv4 address, or `[v6]:port`; otherwise what is wrong with it. */
export function parseListen(value: string): HttpListen | string {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value);
  if (!m) return "must be host:port (IPv6 as [::1]:8844)";
  const host = m[1]!;
  const port = Number(m[2]);
  const v = isIP(host);
  if (v === 0) return "must be a bind address such as 127.0.0.1, 0.0.0.0 or [::1], not a hostname";
  if (v === 4 && value.startsWith("[")) return "brackets are for IPv6 addresses: 127.0.0.1:8844";
  if (port < 1 || port > 65535) return "port must be between 1 and 65535";
  return { host, port, ipv6: v === 6 };
}

export function isLoopback(host: string): boolean {
  return host === "::1" || /^127\./.test(host) || host === "::ffff:127.0.0.1";
}

/**
 * The `[http]` table, or null when the file has none. A table without `listen` opens no
 * listener but still gives `public_url`. `certs`/`installs` resolve `tls_cert_id`.
 */
export function readHttp(r: Reader, certs: CertConfig[], installs: BackendSection[]): HttpConfig {
  const listenText = r.string("listen");
  const token = r.secret("token", { required: listenText !== undefined });
  const tlsCert = r.path("tls_cert", { mustRead: true });
  const tlsKey = r.path("tls_key", { mustRead: true });
  const tlsCertId = r.string("tls_cert_id");
  const allowPlainHttp = r.bool("allow_plain_http", false);
  const sessionHours = r.int("session_hours", { min: 1, max: MAX_SESSION_HOURS, fallback: 12 });
  const publicUrl = readPublicUrl(r);
  r.finish();
  const tlsAsked = r.has("tls_cert") || r.has("tls_key") || r.has("tls_cert_id");
  if (listenText === undefined) {
    if (token || tlsAsked) r.problem("listen", "is required when [http] sets a token or TLS");
    return { listener: null, publicUrl };
  }
  const listen = parseListen(listenText);
  if (typeof listen === "string") r.problem("listen", `${quote(listenText)} ${listen}`);
  if (token) checkToken(r, token);

  let tls: HttpTls | null = null;
  if (r.has("tls_cert") !== r.has("tls_key")) r.problem(r.has("tls_cert") ? "tls_key" : "tls_cert", "tls_cert and tls_key go together");
  else if (tlsCert !== undefined && tlsKey !== undefined) tls = { from: "files", cert: tlsCert, key: tlsKey };
  if (tlsCertId !== undefined) {
    if (r.has("tls_cert") || r.has("tls_key")) r.problem("tls_cert_id", "give tls_cert_id or tls_cert + tls_key, not both");
    else tls = tlsFromCert(r, tlsCertId, certs, installs);
  }
  if (typeof listen === "string" || token === undefined) return { listener: null, publicUrl };
  if (!tlsAsked && !isLoopback(listen.host) && !allowPlainHttp) {
    r.problem("listen", `${quote(listenText)} is not loopback and there is no TLS (tls_cert + tls_key, or tls_cert_id); tokens would cross the network in clear — set allow_plain_http = true to accept that`);
  }
  return { listener: { listen, token, tls, allowPlainHttp, sessionHours }, publicUrl };
}

function checkToken(r: Reader, ref: NonNullable<ReturnType<Reader["secret"]>>): void {
  const key = ref.from === "file" ? "token_file" : "token_env";
  // Unset and allowed (check-config --allow-unset-env): its warning said so; there is nothing to measure.
  if (ref.from === "env" && !r.ctx.env[ref.name]) return;
  let token: string;
  try {
    token = readSecret(ref);
  } catch (err) {
    r.problem(key, `cannot read the token: ${(err as Error).message.split("\n")[0]}`);
    return;
  }
  const problem = tokenProblem(token);
  if (problem) r.problem(key, problem);
}

/**
 * Why `token` cannot be the API token, or undefined. A Bearer header carries one run of
 * visible ASCII (RFC 6750 §2.1): a space would split it, and other bytes do not survive
 * every client, so the login form would take a token no script could send. The messages
 * say what is wrong, never the value.
 */
export function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `the token is ${token.length} characters; use at least ${MIN_TOKEN_LENGTH} (${MAKE_TOKEN})`;
  if (/\s/.test(token)) return `the token contains whitespace, which an "Authorization: Bearer" header cannot carry (${MAKE_TOKEN})`;
  if (/[^\x21-\x7e]/.test(token)) return `the token contains a character outside printable ASCII, which an "Authorization: Bearer" header cannot carry (${MAKE_TOKEN})`;
  return undefined;
}

/** A cert rota manages serves the listener: its key and the fullchain its filesystem target installs. */
function tlsFromCert(r: Reader, id: string, certs: CertConfig[], installs: BackendSection[]): HttpTls | null {
  const cert = certs.find((c) => c.id === id);
  if (!cert) {
    r.problem("tls_cert_id", `${quote(id)} is not a configured cert id`);
    return null;
  }
  const target = cert.install.map((name) => installs.find((s) => s.name === name)).find((s) => s?.type === "filesystem");
  if (!target) {
    r.problem("tls_cert_id", `cert ${quote(id)} has no filesystem install target, where the listener would read its fullchain.pem`);
    return null;
  }
  const dir = (target.options as { dir: string }).dir;
  return { from: "cert", certId: id, target: target.name, dir: `${dir}/${id}` };
}

/** The origin of `public_url`: scheme, host and port, no path. */
function readPublicUrl(r: Reader): string | undefined {
  const v = r.string("public_url");
  if (v === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    r.problem("public_url", `${quote(v)} is not a URL`);
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    r.problem("public_url", `${quote(v)} must be an http:// or https:// URL`);
    return undefined;
  }
  if (url.username || url.password || url.search || url.hash) {
    r.problem("public_url", `${quote(v)} must not carry a user, a query or a fragment`);
    return undefined;
  }
  // The dashboard's pages and /assets/ are linked from the root, and the Origin check takes an
  // origin: under a proxy's sub-path links would reach pages that cannot load. Refused, not cut.
  if (url.pathname !== "/") {
    r.problem("public_url", `${quote(v)} has a path (${url.pathname}): the dashboard is served at the root of its host, so give the origin alone (${quote(url.origin)})`);
    return undefined;
  }
  return url.origin;
}
