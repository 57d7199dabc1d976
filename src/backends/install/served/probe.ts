/**
 * @module One TLS handshake with an endpoint, to read the leaf it serves for a name. The
 * chain is not checked: the question is which certificate is served, not whether a client
 * would trust it (a server still on an expired or self-signed one is what this catches).
 */
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import type { Endpoint } from "./config.ts";

/**
 * The leaf's PEM. `serverName` goes into SNI; null sends none (an IP address may not be
 * sent as SNI, RFC 6066 §3). Rejects with RotaError("served_unreadable") when the endpoint
 * does not complete a handshake within `timeoutMs`, and RotaError("aborted") once `signal` fires.
 */
export function readServedLeaf(endpoint: Endpoint, serverName: string | null, signal: AbortSignal, clock: Clock, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new RotaError("aborted", `${endpoint.text}: cancelled`, { cause: signal.reason }));
    const socket = connect({ host: endpoint.host, port: endpoint.port, servername: serverName ?? undefined, rejectUnauthorized: false });
    const finish = (err: Error | null, pem?: string) => {
      cancelTimer();
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(pem!);
    };
    const onAbort = () => finish(new RotaError("aborted", `${endpoint.text}: cancelled`, { cause: signal.reason }));
    const cancelTimer = clock.setTimeout(() => finish(new RotaError("served_unreadable", `no TLS handshake within ${timeoutMs / 1000} s`)), timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("secureConnect", () => {
      const raw = socket.getPeerCertificate(true)?.raw;
      if (!raw || raw.length === 0) return finish(new RotaError("served_unreadable", "the server sent no certificate"));
      try {
        finish(null, new X509Certificate(raw).toString());
      } catch (err) {
        finish(new RotaError("served_unreadable", `the server sent a certificate that cannot be parsed: ${(err as Error).message}`, { cause: err }));
      }
    });
    socket.once("error", (err) => finish(new RotaError("served_unreadable", err.message, { cause: err })));
  });
}
