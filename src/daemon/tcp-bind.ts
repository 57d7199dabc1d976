/**
 * @module Binding the API's TCP listener as `[http]` says: the TLS material, the bind, and
 * what a failed bind is blamed on. Shared by the listener (http-listener.ts) and the start's
 * first listeners (front.ts), which bind before the app exists.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Server } from "bun";
import { SERVER_MAX_BODY_BYTES } from "../api/serve-options.ts";
import type { HttpListen, HttpListener as HttpListenerConfig } from "../config/schema.ts";
import { describeError } from "../errors.ts";

/** A listener that cannot be set up, under the config key to blame. */
export class HttpSetupError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`${key}: ${reason}`);
  }
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

/**
 * The PEMs to serve, or null: plain HTTP, or a managed cert not yet installed. Loaded and
 * matched here, before any bind, so the start, a reload and `rota check-config` refuse the
 * same files with the same words: a certificate or key that does not load, or a key that is
 * not the certificate's.
 */
export async function readTls(l: HttpListenerConfig): Promise<TlsMaterial | null> {
  const t = l.tls;
  if (!t) return null;
  const [certPath, keyPath] = t.from === "files" ? [t.cert, t.key] : [join(t.dir, "fullchain.pem"), join(t.dir, "privkey.pem")];
  const [certKey, keyKey] = t.from === "files" ? ["http.tls_cert", "http.tls_key"] : ["http.tls_cert_id", "http.tls_cert_id"];
  const read = async (path: string, key: string) => {
    try {
      return await readFile(path, "utf8");
    } catch (err) {
      if (t.from === "cert" && (err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new HttpSetupError(key, `cannot read ${describeError(err)}`);
    }
  };
  const [certPem, keyPem] = [await read(certPath, certKey), await read(keyPath, keyKey)];
  if (certPem === null || keyPem === null) return null;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new HttpSetupError(certKey, `${certPath}: no certificate can be loaded from it (${opensslReason(err)})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new HttpSetupError(keyKey, `${keyPath}: no private key can be loaded from it (${opensslReason(err)})`);
  }
  // The listener's TLS would refuse the pair with OpenSSL's KEY_VALUES_MISMATCH: said in words, with the code.
  if (!cert.checkPrivateKey(key)) throw new HttpSetupError(keyKey, `${keyPath} is not the private key of the certificate in ${certPath} (KEY_VALUES_MISMATCH)`);
  return { cert: certPem, key: keyPem };
}

/** `NO_START_LINE` of OpenSSL's `error:0900006e:PEM routines:OPENSSL_internal:NO_START_LINE`; else the error's own words. */
function opensslReason(err: unknown): string {
  const text = describeError(err);
  return /:([A-Z][A-Z0-9_]+)$/.exec(text)?.[1] ?? text;
}

/** A server for `fetch` on `listen`; HttpSetupError naming the key to blame when it cannot bind. */
export function bindTcp(listen: HttpListen, tls: TlsMaterial | null, fetch: Bun.Serve.Options<unknown>["fetch"], websocket: object | undefined): Server<unknown> {
  try {
    return Bun.serve({
      hostname: listen.host,
      port: listen.port,
      fetch,
      websocket,
      maxRequestBodySize: SERVER_MAX_BODY_BYTES,
      ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
    } as Bun.Serve.Options<unknown>);
  } catch (err) {
    throw new HttpSetupError(tls && /certificate|key|tls|ssl|pem/i.test(String(err)) ? "http.tls_cert" : "http.listen", bindReason(listen, err));
  }
}

function bindReason(listen: HttpListen, err: unknown): string {
  const where = listen.ipv6 ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
  const code = String((err as { code?: unknown }).code ?? "");
  const text = describeError(err);
  if (code === "EADDRINUSE" || /in use/i.test(text)) return `${where}: the address is already in use`;
  if (code === "EACCES" || /permission/i.test(text)) return `${where}: permission denied${listen.port < 1024 ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" : ""}`;
  if (code === "EADDRNOTAVAIL" || /not available|cannot assign/i.test(text)) return `${where}: no such address on this machine`;
  return `${where}: ${text}`;
}
