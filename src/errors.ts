/** @module Error type shared by every part of rota: a stable code, a cause, and retry hints. */

export interface RotaErrorOptions {
  cause?: unknown;
  /** The failure will not go away by retrying (bad config, CA refused the request for good). */
  noRetry?: boolean;
  /** The remote side asked us to wait this long before trying again (Retry-After), in seconds. */
  retryAfterSeconds?: number;
  /** The ACME problem type the CA answered (RFC 8555 §6.7), short form: `alreadyReplaced`, `rateLimited`. */
  acmeType?: string;
}

/**
 * The one error class rota throws on purpose. `message` starts with the backend's
 * name ("acme: …", "webroot: …") so an audit row reads without the stack.
 */
export class RotaError extends Error {
  readonly code: string;
  readonly noRetry: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly acmeType: string | undefined;

  constructor(code: string, message: string, options: RotaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RotaError";
    this.code = code;
    this.noRetry = options.noRetry ?? false;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.acmeType = options.acmeType;
  }
}

/** The message of anything thrown, with its causes appended once each ("a: b: c"). */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(": ") || "unknown error";
}

/** The Retry-After hint carried by an error or one of its causes, in seconds. */
export function retryAfterOf(err: unknown): number | undefined {
  let cur: unknown = err;
  for (let depth = 0; cur instanceof Error && depth < 5; depth++) {
    if (cur instanceof RotaError && cur.retryAfterSeconds !== undefined) return cur.retryAfterSeconds;
    cur = cur.cause;
  }
  return undefined;
}

/** Whether the error says the operation was cancelled through its AbortSignal. */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || (err instanceof RotaError && err.code === "aborted"));
}

/** Throws a RotaError("aborted") when the signal has fired. */
export function throwIfAborted(signal: AbortSignal, who: string): void {
  if (signal.aborted) throw new RotaError("aborted", `${who}: cancelled`, { cause: signal.reason });
}
