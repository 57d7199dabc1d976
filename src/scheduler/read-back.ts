/**
 * @module What one install target serves for a cert, bounded in time: a target that never
 * answers must not hold the tick, the status API or shutdown. A target that cannot read
 * back is taken to serve what the store says was last installed there successfully.
 */
import { canReadBack, type InstallBackend, type ReadableInstall, type ReadBack, type ReadBackOptions } from "../backends/types.ts";
import type { Cancel, Clock } from "../clock.ts";
import type { CertSummary } from "../crypto/summary.ts";
import { RotaError } from "../errors.ts";
import type { AuditStore } from "../store/types.ts";

/** How long one read-back may take before the cert is left alone until the next tick. */
export const READ_BACK_TIMEOUT_MS = 30_000;

/**
 * Read-backs still running per target and cert, each with when it began. One that outlived
 * its timeout is hung (an NFS mount that never answers holds a thread for each call): no
 * further call is stacked on it until it returns. Calls that overlap (a tick and a refresh
 * after a renewal) each keep their own entry, so a later one never hides an earlier hang.
 */
const inFlight = new WeakMap<InstallBackend, Map<string, Set<{ started: Date }>>>();

/**
 * Calls to one target that start within this share of the timeout of each other share one
 * deadline: its controller, timer and stop listener. A sweep of thousands of certs then
 * makes a few, where one per call cost more than a no-change read-back itself. A call's
 * timeout is thus between (1 − SHARE) × and 1 × the timeout.
 */
const DEADLINE_SHARE = 1 / 30;

/**
 * One shared deadline: `signal` aborts and each call's `fail` is called at the deadline or at
 * stop, whichever comes first. Its timer runs only while calls are pending, so an idle daemon
 * holds none. Not a promise raced by every call: a pending promise keeps each race's reaction
 * until it settles, and the current deadline's never does (10,000 per sweep at 10,000 certs).
 */
interface Deadline {
  stop: AbortSignal;
  timeoutMs: number;
  startedAt: number;
  controller: AbortController;
  /** How to fail each call still waiting under it; a call leaves as it settles. */
  waiting: Set<(err: RotaError) => void>;
  /** Calls under it not yet settled. */
  pending: number;
  /** A call joins: the timer is armed if none was pending. */
  join(now: number): void;
  /** A call settled: the timer is cancelled once none is pending, and the stop listener too once another deadline is current. */
  leave(): void;
  /** Another deadline is current: the stop listener goes as soon as no call is pending. */
  retire(): void;
}

const deadlines = new WeakMap<InstallBackend, Deadline>();

/**
 * What a target serves: its read-back or, for a target that cannot read back, the summary
 * of what the store records it was last given (`installed` null when that cannot be parsed).
 */
export type Served = ReadBack | { state: "recorded"; installed: CertSummary | null };

export interface ReadTargetOptions {
  timeoutMs?: number;
  /** The sweep's batch this read belongs to: the backend may answer from its change hints (`ReadBackOptions`). */
  sweep?: object;
  /** The stamp of the leaf the caller keeps for this target: the backend may answer `unchanged` (`ReadBackOptions`). */
  known?: string;
}

/**
 * The target's answer for `certId`. Rejects with RotaError("read_back_timeout") after
 * about `timeoutMs` (see DEADLINE_SHARE) and RotaError("aborted") once `stop` fires,
 * whether or not the backend honours its signal; any other rejection is the backend's
 * "cannot be read now".
 */
export async function readTarget(target: InstallBackend, certId: string, store: AuditStore, stop: AbortSignal, clock: Clock, opts: ReadTargetOptions = {}): Promise<Served> {
  const timeoutMs = opts.timeoutMs ?? READ_BACK_TIMEOUT_MS;
  if (!canReadBack(target)) {
    // Read as summary columns, no PEM: this runs for every such target at every tick.
    const installed = await store.lastInstalledSummary(certId, target.name);
    if (installed) return { state: "recorded", installed };
    // No summary: nothing recorded there, or a certificate that cannot be parsed (the target then counts as damaged).
    return (await store.lastInstalled(certId, target.name)) ? { state: "recorded", installed: null } : { state: "absent" };
  }
  if (stop.aborted) throw cancelled(target, stop);
  const calls = inFlight.get(target) ?? new Map<string, Set<{ started: Date }>>();
  inFlight.set(target, calls);
  const running = calls.get(certId) ?? new Set<{ started: Date }>();
  calls.set(certId, running);
  const now = clock.now();
  if (running.size > 0) {
    const since = [...running].reduce((a, c) => (c.started < a ? c.started : a), now);
    if (now.getTime() - since.getTime() >= timeoutMs) {
      throw new RotaError("read_back_timeout", `${target.name}: read-back hanging since ${since.toISOString()}; not starting another until it returns`);
    }
  }
  const deadline = deadlineFor(target, stop, clock, timeoutMs, now.getTime());
  const entry = { started: now };
  running.add(entry);
  deadline.join(now.getTime());
  const done = () => {
    running.delete(entry);
    if (running.size === 0 && calls.get(certId) === running) calls.delete(certId);
    deadline.leave();
  };
  let call: Promise<ReadBack>;
  try {
    call = target.readBack(certId, deadline.controller.signal, backendOptions(opts));
  } catch (err) {
    call = Promise.reject(err);
  }
  return await new Promise<ReadBack>((resolve, reject) => {
    deadline.waiting.add(reject);
    const settle = () => {
      deadline.waiting.delete(reject);
      done();
    };
    call.then(
      (answer) => (settle(), resolve(answer)),
      (err: unknown) => (settle(), reject(err)),
    );
  });
}

/** What the backend is told of the call, nothing when there is nothing to tell. */
function backendOptions(opts: ReadTargetOptions): ReadBackOptions | undefined {
  if (!opts.sweep && opts.known === undefined) return undefined;
  return { ...(opts.sweep ? { sweep: opts.sweep } : {}), ...(opts.known !== undefined ? { known: opts.known } : {}) };
}

/** The deadline a call to `target` starting `now` runs under: the current one while it is young enough, else a new one. */
function deadlineFor(target: ReadableInstall, stop: AbortSignal, clock: Clock, timeoutMs: number, now: number): Deadline {
  const current = deadlines.get(target);
  if (current && current.stop === stop && current.timeoutMs === timeoutMs && !current.controller.signal.aborted && now - current.startedAt < timeoutMs * DEADLINE_SHARE) {
    return current;
  }
  const controller = new AbortController();
  const waiting = new Set<(err: RotaError) => void>();
  let cancelTimer: Cancel = () => {};
  // A deadline that passes once its calls are done fails nothing.
  const end = (err: RotaError) => {
    cancelTimer();
    stop.removeEventListener("abort", onStop);
    for (const fail of waiting) fail(err);
    waiting.clear();
    controller.abort(err.code === "aborted" ? stop.reason : err);
  };
  const onStop = () => end(cancelled(target, stop));
  stop.addEventListener("abort", onStop, { once: true });
  const deadline: Deadline = {
    stop,
    timeoutMs,
    startedAt: now,
    controller,
    waiting,
    pending: 0,
    join(at) {
      if (deadline.pending++ > 0) return;
      cancelTimer = clock.setTimeout(() => end(new RotaError("read_back_timeout", `${target.name}: read-back timed out after ${timeoutMs / 1000} s`)), now + timeoutMs - at);
    },
    leave() {
      if (--deadline.pending > 0) return;
      cancelTimer();
      if (deadlines.get(target) !== deadline) stop.removeEventListener("abort", onStop);
    },
    retire() {
      if (deadline.pending === 0) stop.removeEventListener("abort", onStop);
    },
  };
  deadlines.set(target, deadline);
  current?.retire();
  return deadline;
}

function cancelled(target: InstallBackend, stop: AbortSignal): RotaError {
  return new RotaError("aborted", `${target.name}: read-back cancelled`, { cause: stop.reason });
}
