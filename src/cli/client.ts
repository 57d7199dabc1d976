/**
 * @module The CLI's side of the API, over the daemon's unix socket or its TCP listener
 * (`--url`, with a token): JSON calls and the live step stream. Output and exit codes are
 * the same either way.
 */
import { lstatSync } from "node:fs";
import { CliExit, EXIT } from "./exit.ts";

/** Where the daemon answers: its socket, or its TCP listener with the token (and a CA to trust for a private certificate). */
export type Endpoint = { kind: "socket"; socket: string } | { kind: "url"; url: URL; token: string; ca: string | undefined };

export interface Reply<T> {
  status: number;
  body: T;
}

export class ApiClient {
  /** The socket path or URL, for messages. */
  readonly where: string;

  constructor(readonly endpoint: Endpoint) {
    this.where = endpoint.kind === "socket" ? endpoint.socket : endpoint.url.href;
  }

  /**
   * One JSON call. A 400 is the daemon refusing the request as asked: a usage error (exit 2);
   * a 503 is its audit store's server away (exit 1, in the daemon's words). A status listed in
   * `answered` comes back as any other reply instead: the caller prints the body (`--json`).
   */
  async call<T>(method: "GET" | "POST", path: string, answered: readonly number[] = []): Promise<Reply<T>> {
    const res = await this.fetch(method, path);
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new CliExit(EXIT.failed, `rota: lost the daemon at ${this.where} while reading its reply (did it stop?)`, { cause: err });
    }
    let body: T;
    try {
      body = JSON.parse(text) as T;
    } catch {
      throw new CliExit(EXIT.failed, `rota: unexpected reply from the daemon (HTTP ${res.status}): ${text.slice(0, 200)}`);
    }
    if (answered.includes(res.status)) return { status: res.status, body };
    if (res.status === 400) {
      const error = (body as { error?: unknown } | null)?.error;
      throw new CliExit(EXIT.usage, `rota: the daemon refused the request: ${typeof error === "string" ? error : text.slice(0, 200)}`);
    }
    if (res.status === 503) {
      // The daemon runs, but what this needs is in an audit store whose server is away.
      const error = (body as { error?: unknown } | null)?.error;
      throw new CliExit(EXIT.failed, `rota: ${typeof error === "string" ? error : text.slice(0, 200)}`);
    }
    return { status: res.status, body };
  }

  /**
   * Reads a server-sent event stream, calling `onEvent` for each event as it arrives,
   * until the daemon ends it. If the connection breaks first (the daemon stopped or
   * crashed), throws CliExit(failed) with `lostMessage`. Once `stop` fires it returns quietly.
   */
  async stream(path: string, onEvent: (event: string, data: string) => void, lostMessage: string, stop?: AbortSignal): Promise<void> {
    const res = await this.fetch("GET", path);
    if (res.status === 503) {
      // As for a call: the daemon runs, its audit store's server is away.
      const error = await res.json().then((b: { error?: unknown }) => b.error, () => undefined);
      throw new CliExit(EXIT.failed, `rota: ${typeof error === "string" ? error : `cannot follow ${path}: HTTP 503`}`);
    }
    if (!res.ok || !res.body) throw new CliExit(EXIT.failed, `rota: cannot follow ${path}: HTTP ${res.status}`);
    const reader = res.body.getReader();
    if (stop?.aborted) return void reader.cancel().catch(() => {});
    stop?.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (stop?.aborted) return;
        // Bun reports a dropped unix socket as ECONNRESET with advice about `verbose: true`; the user needs the why.
        throw new CliExit(EXIT.failed, lostMessage, { cause: err });
      }
      if (chunk.done || stop?.aborted) return;
      buf += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        if (data.length > 0) onEvent(event, data.join("\n"));
      }
    }
  }

  private async fetch(method: string, path: string): Promise<Response> {
    const e = this.endpoint;
    let res: Response;
    try {
      if (e.kind === "socket") return await fetch(`http://rota${path}`, { method, unix: e.socket });
      // The URL may carry a prefix (a reverse proxy serving rota under /rota/).
      const url = new URL(e.url.pathname.replace(/\/$/, "") + path, e.url);
      res = await fetch(url, { method, headers: { Authorization: `Bearer ${e.token}` }, redirect: "manual", ...(e.ca ? { tls: { ca: e.ca } } : {}) });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const message = e.kind === "socket" ? unreachableMessage(code, e.socket, err) : `rota: the daemon is not reachable at ${e.url.href}: ${urlReason(code, err)}`;
      throw new CliExit(EXIT.unreachable, message, { cause: err });
    }
    if (res.status === 401) throw new CliExit(EXIT.unreachable, `rota: the daemon at ${e.url.href} refused the token (HTTP 401); check --token-file or ROTA_TOKEN`);
    return res;
  }
}

/**
 * Plain words for a failed call to a URL, TLS causes named (Bun's codes, as seen with Bun
 * 1.4), and what to do about the likely ones.
 */
export function urlReason(code: unknown, err?: unknown): string {
  switch (code) {
    case "ECONNREFUSED":
    case "ConnectionRefused":
      return "connection refused (is `rota daemon` running with [http] listen on that address?)";
    case "ENOTFOUND":
      return "no such host";
    case "ETIMEDOUT":
    case "Timeout":
      return "timed out";
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "UNABLE_TO_GET_ISSUER_CERT":
      return `TLS: the daemon's certificate is not from a trusted CA (${code}); pass its CA with --ca-file FILE (for rota's local CA: rota ca root > root.pem)`;
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return `TLS: the daemon's certificate does not name this host (${code}); use a name or address the certificate has`;
    case "CERT_HAS_EXPIRED":
      return `TLS: the daemon's certificate has expired (${code})`;
    default:
      if (typeof code === "string" && code !== "") return code;
      return err instanceof Error ? (err.message.split("\n")[0] ?? "unknown error") : "unknown error";
  }
}

/** The one line for exit 3: where, why, and what to do about it, including looking elsewhere. */
export function unreachableMessage(code: unknown, socket: string, err?: unknown): string {
  // A socket we may not open is most likely a daemon that runs, as another user.
  const next = code === "EACCES" || code === "EPERM" ? "run this as the user that runs `rota daemon`" : "is `rota daemon` running?";
  return `rota: the daemon is not reachable at ${socket}: ${unreachableReason(code, socket, err)}; ${next} ${ELSEWHERE}`;
}

const ELSEWHERE = "(a daemon elsewhere: --config FILE or --socket PATH)";

/**
 * Plain words for why connecting to the socket failed. Bun's own text ("ECONNREFUSED:
 * Was there a typo in the url or port?") is written for TCP URLs. As seen with Bun 1.4
 * on Linux: a missing path is ENOENT, a root-only socket EACCES, and a stale socket, a
 * regular file or a folder all ECONNREFUSED (connect(2) on a non-socket), so the path
 * is looked at to tell those apart; ENOTSOCK is mapped in case another platform says it.
 */
export function unreachableReason(code: unknown, socket: string, err?: unknown): string {
  switch (code) {
    case "ENOENT":
    case "FailedToOpenSocket":
      return "no socket there";
    case "ECONNREFUSED":
      return refusedReason(socket);
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOTSOCK":
      return "not a socket";
    case "ENOTDIR":
      return "a folder on the path is a file";
    case "ENAMETOOLONG":
      return "the path is too long for a unix socket";
    case "ECONNRESET":
      return "the connection was closed without a reply";
    default:
      if (typeof code === "string" && code !== "") return code;
      return err instanceof Error ? (err.message.split("\n")[0] ?? "unknown error") : "unknown error";
  }
}

function refusedReason(socket: string): string {
  try {
    const st = lstatSync(socket);
    if (st.isSocket()) return "nothing is listening (a stale socket)";
    if (st.isDirectory()) return "not a socket but a folder";
    return "not a socket";
  } catch {
    return "nothing is listening (a stale socket, or not a socket)";
  }
}
