/**
 * @module The start's first listeners (issue 11). On a parse-cache hit (src/config/early.ts)
 * the daemon takes its state lock and opens its socket and `[http]` listener before it reads
 * the certs and loads the app: until the start is done they answer `/healthz` at once and hold
 * every other request, which then goes to the app as if it had come later; a start that fails
 * answers what it held with 503 and closes them. Loaded before the daemon's modules: no hono here.
 */
import type { Server, WebSocketHandler } from "bun";
import { join } from "node:path";
import { errorResponse } from "../api/error-response.ts";
import { SLOW_ANSWER_SECONDS, socketServeOptions, WEBSOCKET_LIMITS } from "../api/serve-options.ts";
import type { websocket as appWebSocket } from "../api/websocket.ts";
import { ConfigError } from "../config/load.ts";
import { errnoText } from "../config/paths.ts";
import type { DaemonConfig, HttpConfig, HttpListen } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
import { ensureDir } from "../fsutil.ts";
import { lockNow, type Lock } from "../lockfile.ts";
import { listenUnix, SocketPathError } from "./socket.ts";
import { bindTcp, HttpSetupError, readTls, type TlsMaterial } from "./tcp-bind.ts";

type AppWebSocket = typeof appWebSocket;
type Fetch = (req: Request, server: Server<unknown>) => Response | undefined | Promise<Response | undefined>;

/** Where a started daemon sends what its first listeners receive. */
export interface FrontHandlers {
  /** The socket's app. */
  unix: Fetch;
  /** The TCP listener's app; null when the start closed the listener the front bound. */
  tcp: Fetch | null;
  /** The app's WebSocket handler: an upgrade made by the app is served through it. */
  websocket: AppWebSocket;
}

export interface Front {
  /** The state folder's lock, taken; released once whoever holds it last lets go (idempotent). */
  lock: Lock;
  /** The socket's server, bound at `daemon.socket` (0600). */
  socket: Server<unknown>;
  /** The `[http]` listener's server, bound as the config said, with what it serves. */
  tcp: { server: Server<unknown>; listen: HttpListen; tls: TlsMaterial | null } | undefined;
  /** The start is done: requests held and to come go to `handlers`. */
  open(handlers: FrontHandlers): void;
  /**
   * The start failed: requests held are answered 503 (their connections closed), then the
   * listeners close, the socket goes and the lock is released. Never throws.
   */
  fail(): Promise<void>;
}

/** What the front needs of the config: the state folder, the socket and `[http]`. */
export interface FrontSettings {
  file: string;
  daemon: DaemonConfig;
  http: HttpConfig;
}

/**
 * `/healthz` on TCP as the TCP app answers it (src/api/tcp.tsx, its `secureHeaders`):
 * front.test.ts holds the two to the same headers.
 */
const TCP_HEALTHZ_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "origin-agent-cluster": "?1",
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff",
  "x-dns-prefetch-control": "off",
  "x-download-options": "noopen",
  "x-frame-options": "DENY",
  "x-permitted-cross-domain-policies": "none",
  "x-xss-protection": "0",
};

/** How long a failed start lets the listeners send their 503s before it closes them for good. */
const FAIL_DRAIN_MS = 1_000;

/**
 * The state folder (created 0700) and its lock: one daemon per state folder, since a second
 * would remove the first one's live challenges as "left by a crash" and renew the same certs
 * twice. A folder that cannot be created or locked is a config problem naming the key.
 */
export function lockState(file: string, stateDir: string): Lock {
  const problem = (what: string, err: unknown) => new ConfigError(file, [`daemon.state_dir: ${what}: ${errnoText(err)}`]);
  try {
    ensureDir(stateDir, 0o700);
  } catch (err) {
    throw problem(`cannot create ${stateDir}`, err);
  }
  try {
    return lockNow(join(stateDir, "daemon.lock"), `daemon: another rota daemon is running on state_dir ${stateDir}`);
  } catch (err) {
    if (err instanceof RotaError && err.code === "locked") throw err;
    throw problem(`cannot lock ${stateDir}`, err);
  }
}

/**
 * Takes the lock and binds the listeners, in the order a start binds them (`[http]`, then the
 * socket), with the same problems: ConfigError naming the key, or RotaError when another
 * daemon holds the lock or the socket. On a throw nothing is left bound or held.
 */
export async function openFront(settings: FrontSettings): Promise<Front> {
  const taken = lockState(settings.file, settings.daemon.stateDir);
  let released = false;
  const lock: Lock = {
    release() {
      if (!released) taken.release();
      released = true;
    },
  };
  let handlers: FrontHandlers | null = null;
  let failed = false;
  let settle: (h: FrontHandlers | null) => void = () => {};
  const ready = new Promise<FrontHandlers | null>((resolve) => (settle = resolve));
  const held = (pick: (h: FrontHandlers) => Fetch | null, healthz: () => Response): Fetch => {
    const route = (h: FrontHandlers | null, req: Request, server: Server<unknown>) => {
      const fetch = h && pick(h);
      return fetch ? fetch(req, server) : unavailable();
    };
    return (req, server) => {
      if (handlers || failed) return route(handlers, req, server);
      if ((req.method === "GET" || req.method === "HEAD") && new URL(req.url).pathname === "/healthz") return healthz();
      // Held for as long as the start takes: past Bun's 10 s on TCP it would be closed unanswered (the socket's servers allow as much already).
      server.timeout(req, SLOW_ANSWER_SECONDS);
      return ready.then((h) => route(h, req, server));
    };
  };
  // Upgrades are made by the app, so only once the start is done: its handler is there by then.
  const websocket: WebSocketHandler<unknown> = {
    ...WEBSOCKET_LIMITS,
    // The app's sockets carry hono's data: only its own upgrades reach these.
    open: (ws) => handlers?.websocket.open(ws as never),
    message: (ws, message) => handlers?.websocket.message(ws as never, message),
    close: (ws, code, reason) => handlers?.websocket.close(ws as never, code, reason),
  };

  let tcp: Front["tcp"];
  let socket: Server<unknown> | undefined;
  try {
    const l = settings.http.listener;
    if (l) {
      const tls = await readTls(l);
      const fetch = held((h) => h.tcp, () => new Response("ok", { headers: TCP_HEALTHZ_HEADERS }));
      tcp = { server: bindTcp(l.listen, tls, fetch, websocket), listen: l.listen, tls };
    }
    const fetch = held((h) => h.unix, () => new Response("ok"));
    socket = await listenUnix(settings.daemon.socket, (unix) => Bun.serve(socketServeOptions({ unix, fetch, websocket })));
  } catch (err) {
    await tcp?.server.stop(true);
    lock.release();
    if (err instanceof HttpSetupError) throw new ConfigError(settings.file, [err.message]);
    if (err instanceof SocketPathError) throw new ConfigError(settings.file, [`daemon.socket: ${err.reason}`]);
    throw err;
  }
  const servers = [socket, tcp?.server].filter((s) => s !== undefined);
  return {
    lock,
    socket,
    tcp,
    open(h) {
      handlers = h;
      settle(h);
    },
    async fail() {
      failed = true;
      settle(null);
      const drained = Promise.all(servers.map((s) => s.stop()));
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, FAIL_DRAIN_MS))]);
      await Promise.all(servers.map((s) => s.stop(true)));
      lock.release();
    },
  };
}

/** What a request held by a start that failed gets. */
function unavailable(): Response {
  return errorResponse(503, "the daemon could not start; its log says why", { Connection: "close" });
}
