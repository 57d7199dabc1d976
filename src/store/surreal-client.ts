/**
 * @module The connection to a SurrealDB 3.x server for the audit store: the SDK over ws or
 * wss, signing in again at every reconnect (the password is read from its file or variable
 * each time, so a rotated one is picked up), every call bounded by 5 s, transaction
 * conflicts retried, and the server's own words for a failed statement. Loaded only when
 * `[audit] backend = "surrealdb"` (see `open.ts`).
 */
import { readFileSync } from "node:fs";
import { Surreal, type QueryResponse } from "surrealdb";
import type { SurrealAuditConfig } from "../config/schema.ts";
import { readSecret } from "../config/secret.ts";
import { RotaError, describeError } from "../errors.ts";
import { sleep } from "../sleep.ts";

/** Every call is bounded by this; a call out of time counts as a connection failure. */
export const CALL_TIMEOUT_MS = 5_000;
/** A transaction that lost a write conflict is tried this many more times. */
const CONFLICT_RETRIES = 3;
/** The SDK's reconnect: unlimited attempts, 250 ms doubling to 5 s, ±20 % jitter. */
const RECONNECT = { enabled: true, attempts: -1, retryDelay: 250, retryDelayMax: 5_000, retryDelayMultiplier: 2, retryDelayJitter: 0.2 };

export type Bindings = Record<string, unknown>;

/** The failure of a call that did not reach the server: the caller buffers it or fails fast. */
export function isUnavailable(err: unknown): boolean {
  return err instanceof RotaError && err.code === "store_unavailable";
}

export interface SurrealClientEvents {
  /** The connection is up (again), signed in. */
  connected(): void;
  /** The connection was lost; the SDK keeps reconnecting. `error` is the last failure seen, if any. */
  disconnected(error: string): void;
}

/**
 * The SDK's `WebSocket`: trusting `ca` besides the system's CAs when given (Bun takes TLS
 * options in the constructor's second argument, which the SDK fills with the subprotocols
 * only), and reporting why a connection failed, which the SDK does not pass on
 * ("TLS handshake failed: unable to verify the first certificate").
 */
function websocketImpl(ca: string | undefined, onError: (message: string) => void): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, (ca ? { protocols, tls: { ca } } : protocols) as string[]);
      this.addEventListener("error", (e) => {
        const message = (e as ErrorEvent).message;
        if (message) onError(message.replace(/^WebSocket connection to '[^']*' failed: /, ""));
      });
    }
  };
}

export class SurrealClient {
  private readonly db: Surreal;
  private up = false;
  private lastError = "";
  /** Calls awaiting the server: failed at once when the connection drops, not left to their timeout. */
  private readonly inFlight = new Set<(err: RotaError) => void>();
  /** Ends the probing of a server that stopped answering (`stalled`): set by `close()`. */
  private readonly closing = new AbortController();
  private probing = false;

  constructor(
    readonly config: SurrealAuditConfig,
    private readonly events: SurrealClientEvents,
  ) {
    const ca = config.caBundle ? readFileSync(config.caBundle, "utf8") : undefined;
    this.db = new Surreal({ websocketImpl: websocketImpl(ca, (message) => (this.lastError = redact(message, config))) });
    this.db.subscribe("connected", () => {
      this.up = true;
      this.events.connected();
    });
    const down = () => {
      if (!this.up) return;
      this.up = false;
      // The SDK holds a request sent before the drop until it reconnects: a caller must not wait for that.
      for (const fail of this.inFlight) fail(this.unavailable(this.lastError || "connection closed"));
      this.inFlight.clear();
      this.events.disconnected(this.lastError);
    };
    this.db.subscribe("disconnected", down);
    this.db.subscribe("reconnecting", down);
    this.db.subscribe("error", (err) => {
      this.lastError = redact(describeError(err), this.config);
    });
  }

  get connected(): boolean {
    return this.up;
  }

  /** "SurrealDB at wss://db.example.net/rpc": how every message names the server. */
  get name(): string {
    return `SurrealDB at ${this.config.url}`;
  }

  /**
   * Connects and signs in within `connect_timeout_seconds`, and checks the server is 3.x.
   * Throws `store_unreachable` (the server did not answer in time), or `store_config` with
   * a problem line naming the key (credentials refused, another major version).
   */
  async connect(): Promise<void> {
    const c = this.config;
    const auth = () => {
      const password = readSecret(c.password);
      if (c.authLevel === "root") return { username: c.username, password };
      if (c.authLevel === "namespace") return { namespace: c.namespace, username: c.username, password };
      return { namespace: c.namespace, database: c.database, username: c.username, password };
    };
    const timeoutS = c.connectTimeoutSeconds;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outOfTime = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RotaError("store_unreachable", `audit: ${this.name} not reachable after ${timeoutS} s: ${this.lastError || "no answer"}`)), timeoutS * 1000);
    });
    try {
      await Promise.race([this.db.connect(c.url, { namespace: c.namespace, database: c.database, authentication: auth, reconnect: RECONNECT, versionCheck: false }), outOfTime]);
      await Promise.race([this.db.ready, outOfTime]);
      const { version } = await Promise.race([this.db.version(), outOfTime]);
      const problem = versionProblem(version);
      if (problem) throw new RotaError("store_config", problem, { noRetry: true });
      this.up = true;
    } catch (err) {
      await this.db.close().catch(() => {});
      if (err instanceof RotaError) throw err;
      if (isRefusal(err)) throw this.refused(err);
      throw new RotaError("store_unreachable", `audit: ${this.name} not reachable after ${timeoutS} s: ${redact(describeError(err), c)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The problem line for credentials or permissions the server refused. */
  refused(err: unknown): RotaError {
    const c = this.config;
    const where = c.authLevel === "root" ? "" : c.authLevel === "namespace" ? `, ${c.namespace}` : `, ${c.namespace}/${c.database}`;
    return new RotaError("store_config", `audit.username: SurrealDB refused ${JSON.stringify(c.username)} (auth_level ${c.authLevel}${where}): ${redact(describeError(err), c)}`, {
      noRetry: true,
    });
  }

  /**
   * Runs `sql` with `bindings` (values are always bound, never spliced into the text) and
   * returns each statement's result. Fails fast with `store_unavailable` while disconnected
   * or when the server does not answer within 5 s; a statement's error is thrown with the
   * server's text (a failed transaction's `THROW` included); a transaction conflict is
   * retried `conflictRetries` times (3 unless told) with jitter, then thrown as `store_conflict`.
   */
  async query(sql: string, bindings: Bindings = {}, conflictRetries = CONFLICT_RETRIES): Promise<unknown[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(sql, bindings);
      } catch (err) {
        if (attempt >= conflictRetries || !isConflict(err)) throw err;
        await sleep(25 * 2 ** attempt * (0.5 + Math.random()));
      }
    }
  }

  private async once(sql: string, bindings: Bindings): Promise<unknown[]> {
    if (!this.up) throw this.unavailable();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let fail: (err: RotaError) => void = () => {};
    const outOfTime = new Promise<never>((_, reject) => {
      fail = reject;
      timer = setTimeout(() => {
        const why = `no answer within ${CALL_TIMEOUT_MS / 1000} s`;
        reject(this.unavailable(why));
        this.stalled(why);
      }, CALL_TIMEOUT_MS);
    });
    this.inFlight.add(fail);
    let responses: QueryResponse[];
    try {
      responses = await Promise.race([this.db.query(sql, bindings).responses(), outOfTime]);
    } catch (err) {
      if (err instanceof RotaError) throw err;
      if (isRefusal(err)) throw this.refused(err);
      if (isConnectionError(err) || !this.up) throw this.unavailable(describeError(err));
      throw new RotaError("store_failed", `audit: SurrealDB: ${redact(describeError(err), this.config)}`, { cause: err });
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(fail);
    }
    const failed = responses.filter((r) => !r.success);
    if (failed.length > 0) {
      // In a failed transaction every other statement reports only "not executed": the
      // statement that failed it (a THROW, a conflict) carries the reason.
      const cause = failed.map((r) => (r.success ? undefined : r.error)).find((e) => !/not executed due to a failed transaction/.test(describeError(e))) ?? (failed[0] as { error: unknown }).error;
      const text = describeError(cause).replace(/^An error occurred: /, "");
      if (isPermission(text)) throw this.refused(cause);
      throw new RotaError(isConflictText(text) ? "store_conflict" : "store_failed", `audit: SurrealDB: ${text}`, { cause });
    }
    return responses.map((r) => (r.success ? r.result : undefined));
  }

  /**
   * A call out of time counts as a connection failure (issue 16): a server that accepts and
   * never answers (stopped, overloaded) keeps the socket open, so the SDK sees no drop. The
   * client reports itself disconnected, fails what waits, and asks the server (the SDK's
   * reconnect schedule, each try bounded by the call timeout) until an answer comes back.
   */
  private stalled(why: string): void {
    if (!this.up) return;
    this.up = false;
    for (const fail of this.inFlight) fail(this.unavailable(why));
    this.inFlight.clear();
    this.events.disconnected(why);
    void this.probe();
  }

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      for (let delay = RECONNECT.retryDelay; !this.up; delay = Math.min(delay * RECONNECT.retryDelayMultiplier, RECONNECT.retryDelayMax)) {
        await sleep(delay, this.closing.signal);
        // The SDK reconnected meanwhile (the server closed the socket): its `connected` said so.
        if (this.up) return;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const answered = await Promise.race([
          this.db.query("RETURN 1").responses().then(
            () => true,
            () => false,
          ),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CALL_TIMEOUT_MS))),
        ]).finally(() => clearTimeout(timer));
        if (answered && !this.up && !this.closing.signal.aborted) {
          this.up = true;
          this.events.connected();
        }
      }
    } catch {
      // close(): nothing more to ask.
    } finally {
      this.probing = false;
    }
  }

  /** `store_unavailable`, in the words `/api/status`'s 503s use. */
  unavailable(why?: string): RotaError {
    return new RotaError("store_unavailable", `audit: ${this.name} is not connected`, why ? { cause: new Error(redact(why, this.config)) } : {});
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.up = false;
    await this.db.close().catch(() => {});
  }
}

/** The problem line for a server that is not 3.x (`version` as the server reports it: `surrealdb-3.0.2`), or null. */
export function versionProblem(version: string): string | null {
  const v = version.replace(/^surrealdb-/, "");
  return v.startsWith("3.") ? null : `audit.url: SurrealDB ${v} is not supported; rota needs 3.x`;
}

function isConflictText(text: string): boolean {
  return /can be retried|transaction conflict|read or write conflict/i.test(text);
}

function isConflict(err: unknown): boolean {
  return err instanceof RotaError && err.code === "store_conflict";
}

function isPermission(text: string): boolean {
  return /not enough permissions|IAM error|not allowed/i.test(text);
}

function isRefusal(err: unknown): boolean {
  const e = err as { name?: string; kind?: string } | null;
  const text = describeError(err);
  return e?.name === "AuthenticationError" || e?.kind === "NotAllowed" || /authentication|invalid credentials|There was a problem with authentication/i.test(text) || isPermission(text);
}

function isConnectionError(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name ?? "";
  return /Connection|Unavailable|Reconnect|WebSocket|Engine/.test(name) || /connection|socket|closed/i.test(describeError(err));
}

/** The password never appears in a message, whatever a library put in one. */
function redact(text: string, config: SurrealAuditConfig): string {
  let password = "";
  try {
    password = readSecret(config.password);
  } catch {
    return text;
  }
  return password.length >= 4 ? text.split(password).join("[password]") : text;
}
