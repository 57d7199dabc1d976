/**
 * @module The API's TCP listener: binds `[http] listen` with the token, sessions and TLS
 * of the running config. A reload that changes `[http]` rebinds it (a new token alone
 * swaps the credentials and ends every session); with `tls_cert_id` a renewal of that
 * cert rebinds it on the new certificate — Bun's `server.reload()` keeps the old TLS
 * options, so a new certificate needs a new listener.
 */
import { statSync } from "node:fs";
import type { Server } from "bun";
import type { Hono } from "hono";
import { Sessions } from "../api/auth/session.ts";
import { StreamGuards } from "../api/auth/stream-guards.ts";
import { loadSessionState, type SessionState } from "../api/auth/session-state.ts";
import type { websocket } from "../api/websocket.ts";
import { createTcpApp, type TcpAuth, type TcpEnv } from "../api/tcp.tsx";
import type { Clock } from "../clock.ts";
import { isLoopback, tokenProblem } from "../config/http.ts";
import type { HttpConfig, HttpListen, HttpListener as HttpListenerConfig } from "../config/schema.ts";
import { readSecret } from "../config/secret.ts";
import { describeError } from "../errors.ts";
import type { EventBus } from "../events.ts";
import type { Logger } from "../log.ts";
import { bindTcp, HttpSetupError, readTls, type TlsMaterial } from "./tcp-bind.ts";

export { HttpSetupError };

export interface HttpListenerDeps {
  /** The API's routes; served behind authentication. */
  api: Hono;
  /** The dashboard's pages (behind the login) and its static files. */
  pages: Hono<TcpEnv>;
  assets: Hono;
  /** Passed to `Bun.serve`, so routes can upgrade to WebSockets (`src/api/websocket.ts`). */
  websocket: typeof websocket | undefined;
  stateDir: string;
  bus: EventBus;
  clock: Clock;
  log: Logger;
  /**
   * A server the start bound already on `listen` with `tls` (src/daemon/front.ts), whose
   * requests come to this listener's app once it exists: the first `apply` keeps it when
   * the config asks for that same listener, else binds anew as a reload would.
   */
  bound?: { server: Server<unknown>; listen: HttpListen; tls: TlsMaterial | null };
}

export class HttpListener {
  private server: Server<unknown> | null = null;
  private config: HttpConfig = { listener: null, publicUrl: undefined };
  private auth: TcpAuth | null = null;
  /** What the bound server serves, to tell whether a change needs a new bind. */
  private bound: { listen: HttpListen; tls: TlsMaterial | null } | null = null;
  /** Applies one at a time: a reload and a renewal of the TLS cert must not bind twice. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly app: Hono;
  /** Event streams open on this listener, with the credentials they opened with: a new token closes them. */
  private readonly streams: StreamGuards;
  private readonly unsubscribe: () => void;
  /** Read at the first bind, kept for the process: every `Sessions` shares its logouts. */
  private sessionState: SessionState | undefined;
  /** Listeners replaced by a rebind, finishing their requests (an SSE stream, a WebSocket may last long): closed for good at stop(). */
  private readonly draining = new Set<Server<unknown>>();

  /** The start's server was taken over and its "listening" line not yet logged. */
  private adopted = false;

  constructor(private readonly deps: HttpListenerDeps) {
    if (deps.bound) {
      this.server = deps.bound.server;
      this.bound = { listen: deps.bound.listen, tls: deps.bound.tls };
      this.adopted = true;
    }
    this.streams = new StreamGuards(deps.clock);
    this.app = createTcpApp(deps.api, { auth: () => this.auth!, pages: deps.pages, assets: deps.assets, streams: this.streams, clock: deps.clock, log: deps.log }) as unknown as Hono;
    this.unsubscribe = deps.bus.subscribe((e) => {
      const tls = this.config.listener?.tls;
      if (e.type === "renewal.succeeded" && tls?.from === "cert" && tls.certId === e.certId) {
        void this.serialized(() => this.bind(this.config, "its certificate was renewed")).catch((err) => deps.log.error(`http: cannot serve the renewed certificate: ${describeError(err)}`));
      }
    });
  }

  /**
   * Serves `config` from now on. True when that changed what is served though the section may
   * read the same: a new token in the same file (every session ends), certificate files
   * rewritten in place (a new bind), a listener opened or closed. Throws HttpSetupError
   * (naming the key) when it cannot; the previous listener then keeps serving.
   */
  apply(config: HttpConfig): Promise<boolean> {
    return this.serialized(() => this.bind(config, "the config changed"));
  }

  /** The app every server of this listener serves (behind authentication); null while none is bound. */
  get fetch(): ((req: Request, server: Server<unknown>) => Response | Promise<Response>) | null {
    return this.server ? this.app.fetch : null;
  }

  /** The origin the listener answers on, e.g. `https://127.0.0.1:8844`; null when none is bound. */
  origin(): string | null {
    if (!this.bound) return null;
    const { host, port, ipv6 } = this.bound.listen;
    return `${this.bound.tls ? "https" : "http"}://${ipv6 ? `[${host}]` : host}:${port}`;
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    await this.serialized(async () => {
      await Promise.all([this.server?.stop(true), ...[...this.draining].map((s) => s.stop(true))]);
      this.server = null;
      this.bound = null;
    });
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async bind(config: HttpConfig, why: string): Promise<boolean> {
    const l = config.listener;
    const wasServing = this.server !== null;
    if (!l) {
      if (this.server) this.deps.log.info(`http: no [http] listen any more; closing ${this.origin()}`);
      await this.close(config, null);
      return wasServing;
    }
    const auth = this.authFor(l, config.publicUrl);
    const tokenChanged = this.auth !== null && this.auth.token !== auth.token;
    const tls = await readTls(l);
    if (l.tls?.from === "cert" && !tls) {
      // Only a managed cert can be missing here (files given by path are checked by the config): it comes with its first issue.
      this.deps.log.warn(`http: not listening on ${l.listen.host}:${l.listen.port} until cert ${l.tls.certId} is issued and installed`);
      await this.close(config, auth);
      return wasServing || tokenChanged;
    }
    const same = this.bound && Bun.deepEquals(this.bound.listen, l.listen) && Bun.deepEquals(this.bound.tls, tls);
    this.config = config;
    this.auth = auth;
    // Streams opened under the old token or its sessions end with them, even when nothing is rebound.
    if (tokenChanged) this.streams.recheck();
    const adopted = this.adopted;
    this.adopted = false;
    if (same) {
      if (adopted) this.announce(l, tls, null);
      return tokenChanged;
    }

    const sameAddress = this.bound && this.bound.listen.host === l.listen.host && this.bound.listen.port === l.listen.port;
    const old = this.server;
    // On the same address the old listener must let go of the port first; elsewhere the new one
    // binds first, so a failed bind leaves the old one serving. Bun's stop() closes the port at
    // once and resolves when the old connections end: not awaited, or one open event stream
    // would hold the new listener back.
    if (old && sameAddress) this.drain(old);
    try {
      this.server = this.serve(l.listen, tls);
    } catch (err) {
      if (old && sameAddress && this.bound) this.server = this.serve(this.bound.listen, this.bound.tls);
      throw err;
    }
    if (old && !sameAddress) this.drain(old);
    this.bound = { listen: l.listen, tls };
    this.announce(l, tls, old === null || adopted ? null : why);
    return true;
  }

  /** The lines a bind logs; `again` says why a listener was replaced, null for the first. */
  private announce(l: HttpListenerConfig, tls: TlsMaterial | null, again: string | null): void {
    this.deps.log.info(`http: ${again === null ? "listening" : `listening again (${again})`} on ${this.origin()}${tls ? "" : " without TLS"}`);
    if (!tls && !isLoopback(l.listen.host)) this.deps.log.warn(`http: plain HTTP on ${this.origin()} (allow_plain_http): the token and session cookies cross the network in clear`);
  }

  /** No listener for `config` (for now): the current one closes. */
  private async close(config: HttpConfig, auth: TcpAuth | null): Promise<void> {
    await this.server?.stop(true);
    this.server = null;
    this.bound = null;
    this.config = config;
    this.auth = auth;
  }

  private drain(server: Server<unknown>): void {
    this.draining.add(server);
    void server.stop().finally(() => this.draining.delete(server));
  }

  private serve(listen: HttpListen, tls: TlsMaterial | null): Server<unknown> {
    return bindTcp(listen, tls, this.app.fetch, this.deps.websocket);
  }

  /**
   * Credentials for `l`; the sessions survive when neither the token nor their lifetime
   * changed. Logouts survive any change: a new token ends every session, but a token
   * changed back would revive the cookies signed under it.
   */
  private authFor(l: HttpListenerConfig, publicOrigin: string | undefined): TcpAuth {
    const key = l.token.from === "file" ? "http.token_file" : "http.token_env";
    let token: string;
    try {
      token = readSecret(l.token);
    } catch (err) {
      throw new HttpSetupError(key, `cannot read the token: ${describeError(err)}`);
    }
    // The file may have changed since the config was checked.
    const problem = tokenProblem(token);
    if (problem) throw new HttpSetupError(key, problem);
    if (l.token.from === "file") warnIfShared(l.token.path, this.deps.log);
    const tlsOn = l.tls !== null;
    const prev = this.auth;
    const prevHours = this.config.listener?.sessionHours;
    if (prev && prev.token === token && prevHours === l.sessionHours) return { ...prev, tls: tlsOn, publicOrigin };
    if (prev && prev.token !== token) this.deps.log.info("http: the API token changed; every browser session has ended");
    this.sessionState ??= loadSessionState(this.deps.stateDir, this.deps.clock, this.deps.log);
    const { key: sessionKey, revoked } = this.sessionState;
    return { token, sessions: new Sessions(sessionKey, token, l.sessionHours, this.deps.clock, revoked), tls: tlsOn, publicOrigin };
  }

}

/** A token file others can read is everyone's token: said at each start and reload, not refused. */
function warnIfShared(path: string, log: Logger): void {
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) log.warn(`http: token file ${path} is readable by group or others (mode ${mode.toString(8).padStart(4, "0")}); chmod 600 it`);
  } catch {
    // Read just above: a race with its removal shows up at the next reload.
  }
}
