/**
 * @module HAProxy's runtime API (the `stats socket … level admin` CLI), the commands a
 * certificate hot swap needs and nothing else. One connection per command: HAProxy
 * answers a non-interactive connection once and closes it. Replies are text; only the
 * words HAProxy 2.6 prints decide success (`../shared/reference/test-stack.md`,
 * https://docs.haproxy.org/2.6/management.html#9.3).
 */
import { createConnection } from "node:net";
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { sleepOn } from "../../../sleep.ts";

/** A runtime API socket: a unix path, or a TCP `host:port` (`stats socket ipv4@…`). */
export type Endpoint = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

/** Far above any reply to these commands; a longer one is not HAProxy's CLI talking. */
const MAX_REPLY_BYTES = 1 << 20;

/**
 * HAProxy's refusal of a certificate command while another CLI command holds its certificate
 * lock (a commit, or a `show ssl cert` still writing its reply, from any connection): it took
 * the lock with a try-lock and did nothing, so asking again is safe (HAProxy 2.6 ssl_ckch.c).
 */
const CERTS_LOCKED = "Operations on certificates are currently locked!";

/**
 * The waits before asking again after that refusal, about 1.5 s in all: the lock is held for
 * one command, milliseconds; retrying beats taking rota's swap lock for every read, which
 * would cost a lock file and a `show info` per look and still not cover an operator's commands.
 */
export const LOCKED_RETRY_MS = [50, 100, 200, 400, 800];

/** The signal of calls that pass none: never fires. */
const NEVER = new AbortController().signal;

/** How an endpoint is named in messages and config: its path, or `host:port`. */
export function endpointName(e: Endpoint): string {
  if (e.kind === "unix") return e.path;
  return e.host.includes(":") ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/**
 * The PEM as `set ssl cert` takes it: HAProxy ends the payload at the first empty line,
 * so blank lines (a blank between blocks is common) would cut the key off.
 */
export function payloadOf(pem: string): string {
  return pem
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "")
    .join("\n");
}

/** The served leaf's serial as `show ssl cert <path>` prints it, lowercase; null when HAProxy has no such certificate. */
export function parseSerial(reply: string): string | null {
  const m = /^Serial: ([0-9A-Fa-f]+)$/m.exec(reply);
  return m ? m[1]!.toLowerCase() : null;
}

/** Serials compare as numbers: HAProxy and OpenSSL may differ in leading zeros and case. */
export function sameSerial(a: string, b: string): boolean {
  const bare = (serial: string) => serial.toLowerCase().replace(/^0+(?=.)/, "");
  return bare(a) === bare(b);
}

/** `<node>/<pid>` from a `show info` reply; null without a `Pid:` line. HAProxy 2.6 prints `node:` in lower case. */
export function parseProcess(reply: string): string | null {
  const pid = /^Pid: (\d+)$/m.exec(reply)?.[1];
  if (pid === undefined) return null;
  return `${/^node: (.*)$/im.exec(reply)?.[1]?.trim() ?? ""}/${pid}`;
}

export interface HaproxyClient {
  readonly endpoint: Endpoint;
  /** Stages `pem` for `path` in HAProxy's one transaction. Throws RotaError("haproxy_refused") with the reply otherwise. */
  setCert(path: string, pem: string): Promise<void>;
  /** Makes the staged certificate the served one; only `Success!` is success. */
  commitCert(path: string): Promise<void>;
  /** Drops the transaction for `path`; none open is success too. */
  abortCert(path: string): Promise<void>;
  /** The serial HAProxy serves for `path`, or null when its config does not load that path. */
  servedSerial(path: string): Promise<string | null>;
  /** Paths with a transaction open (listed with a `*` by `show ssl cert`). */
  openTransactions(): Promise<string[]>;
  /**
   * Which HAProxy process answers on this socket, as `show info` names it (`<node>/<pid>`):
   * every socket of one process gives the same answer. Null when the reply names no Pid.
   */
  processId(): Promise<string | null>;
  /**
   * One command, its reply; asked again (LOCKED_RETRY_MS) while HAProxy answers that its
   * certificates are locked. Rejects with RotaError("haproxy_no_connection") when no
   * connection was made (nothing reached HAProxy), RotaError("haproxy_unreachable") when
   * the connection failed after that.
   */
  send(command: string): Promise<string>;
}

export interface ClientOptions {
  clock: Clock;
  /** How long one command may take from connect to the end of the reply. */
  timeoutMs: number;
  /** Cancels the command in flight (read-backs); swaps pass none, so they finish once begun. */
  signal?: AbortSignal;
}

const NOT_REFERENCED = "not referenced by the configuration";

/** What HAProxy 2.6 answers `show ssl cert` from a socket below `level operator` (ssl_ckch.c, cli_parse_show_cert). */
const BELOW_OPERATOR = "Can't allocate memory!";

/** Whether a refusal says HAProxy's config does not load the path at all. */
export function isNotReferenced(err: unknown): boolean {
  return err instanceof RotaError && err.code === "haproxy_refused" && err.message.includes(NOT_REFERENCED);
}

/** Whether HAProxy refused the command for the socket's level (`level user` or `operator`): it did nothing. */
export function isPermissionDenied(err: unknown): boolean {
  return err instanceof RotaError && err.code === "haproxy_refused" && /refused: Permission denied$/.test(err.message);
}

/** Whether the command never reached HAProxy: no connection was made. */
export function isNotConnected(err: unknown): boolean {
  return err instanceof RotaError && err.code === "haproxy_no_connection";
}

export function createHaproxyClient(endpoint: Endpoint, opts: ClientOptions): HaproxyClient {
  const where = endpointName(endpoint);
  const refused = (command: string, reply: string) => new RotaError("haproxy_refused", `${where}: ${command} refused: ${oneLine(reply)}`);
  const send = async (command: string): Promise<string> => {
    let reply = await exchange(endpoint, command, opts);
    for (const wait of LOCKED_RETRY_MS) {
      if (!reply.includes(CERTS_LOCKED)) break;
      await sleepOn(opts.clock, wait, opts.signal ?? NEVER).catch((err: unknown) => {
        throw new RotaError("aborted", `${where}: ${verbOf(command)} cancelled`, { cause: err });
      });
      reply = await exchange(endpoint, command, opts);
    }
    return reply;
  };
  return {
    endpoint,
    send,
    async setCert(path, pem) {
      const reply = await send(`set ssl cert ${path} <<\n${payloadOf(pem)}\n\n`);
      if (!/^Transaction (created|updated) for certificate /m.test(reply)) throw refused(`set ssl cert ${path}`, reply);
    },
    async commitCert(path) {
      const reply = await send(`commit ssl cert ${path}\n`);
      if (!reply.includes("Success!")) throw refused(`commit ssl cert ${path}`, reply);
    },
    async abortCert(path) {
      const reply = await send(`abort ssl cert ${path}\n`);
      if (!/^(Transaction aborted for certificate|No ongoing transaction)/m.test(reply)) throw refused(`abort ssl cert ${path}`, reply);
    },
    async servedSerial(path) {
      const reply = await send(`show ssl cert ${path}\n`);
      const serial = parseSerial(reply);
      if (serial !== null) return serial;
      if (/Not found/i.test(reply)) return null;
      if (reply.trim() === BELOW_OPERATOR) throw refused(`show ssl cert ${path}`, `${reply.trim()} (HAProxy 2.6's answer to a socket below "level operator": is it "level admin"?)`);
      throw refused(`show ssl cert ${path}`, reply);
    },
    async openTransactions() {
      const reply = await send("show ssl cert\n");
      return reply
        .split("\n")
        .filter((line) => line.startsWith("*"))
        .map((line) => line.slice(1));
    },
    async processId() {
      return parseProcess(await send("show info\n"));
    },
  };
}

/** Replies as one line for an error message; HAProxy's end with an empty line. */
function oneLine(reply: string): string {
  return reply.trim().split(/\n+/).join(" ") || "(empty reply)";
}

/** The command's first line, without a payload: what messages name. */
function verbOf(command: string): string {
  return command.split(" <<")[0]!.trim();
}

function exchange(endpoint: Endpoint, command: string, opts: ClientOptions): Promise<string> {
  const where = endpointName(endpoint);
  const verb = verbOf(command);
  return new Promise((resolve, reject) => {
    const socket = endpoint.kind === "unix" ? createConnection({ path: endpoint.path }) : createConnection({ host: endpoint.host, port: endpoint.port });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let connected = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      cancelTimer();
      opts.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onAbort = () => finish(new RotaError("aborted", `${where}: ${verb} cancelled`, { cause: opts.signal?.reason }));
    const cancelTimer = opts.clock.setTimeout(
      () =>
        finish(
          connected
            ? new RotaError("haproxy_unreachable", `${where}: no complete reply to ${verb} within ${opts.timeoutMs / 1000} s`)
            : new RotaError("haproxy_no_connection", `${where}: cannot connect within ${opts.timeoutMs / 1000} s`),
        ),
      opts.timeoutMs,
    );
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("connect", () => {
      connected = true;
      socket.end(command);
    });
    socket.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY_BYTES) return finish(new RotaError("haproxy_refused", `${where}: reply to ${verb} larger than 1 MiB`));
      chunks.push(chunk);
    });
    socket.on("end", () => finish(null));
    socket.on("close", () => finish(null));
    socket.on("error", (err) =>
      finish(
        connected
          ? new RotaError("haproxy_unreachable", `${where}: cannot ${verb}: ${err.message}`, { cause: err })
          : new RotaError("haproxy_no_connection", `${where}: cannot connect: ${err.message}`, { cause: err }),
      ),
    );
  });
}
