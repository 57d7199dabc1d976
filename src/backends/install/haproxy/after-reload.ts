/**
 * @module After `reload_command`, for a path a socket did not reference: does HAProxy now
 * load it? A reload is often asynchronous (`systemctl reload haproxy` signals the master
 * and returns; the new worker parses its config, then takes the socket over), so rota looks
 * again until a bound. A new process behind the socket is the signal that the reload took
 * place: if it does not load the path either, its config does not name it, and waiting
 * longer changes nothing. Without that signal (a reload_command that reloaded nothing, a
 * `show info` without a Pid) the bound decides.
 */
import type { Clock } from "../../../clock.ts";
import { RotaError } from "../../../errors.ts";
import { sleepOn } from "../../../sleep.ts";
import { sameSerial } from "./client.ts";

/** How long HAProxy may take to come back with the new config after `reload_command`. */
export const RELOAD_LOAD_WAIT_MS = 10_000;
/** Between looks: each is three short commands. */
export const RELOAD_LOOK_INTERVAL_MS = 250;

/** One look at the socket: the process that answered and what it serves for the path. */
export type Look =
  /** `process` is null when `show info` names none, or two asks named two processes (a reload in between). */
  | { kind: "answered"; process: string | null; serial: string | null }
  /** The socket could not be asked (not yet back after the reload, or refusing): the error. */
  | { kind: "failed"; error: string };

export interface LoadQuestion {
  /** The socket, as messages name it. */
  where: string;
  path: string;
  /** The serial the file holds, lowercase hex. */
  serial: string;
  /** The process that answered before the reload; null when unknown. */
  before: string | null;
}

/**
 * What one look means: done (problem null when HAProxy loads the file), or not yet, with
 * the problem to report if the deadline comes first (given the seconds waited).
 */
export type LoadVerdict = { done: true; problem: string | null } | { done: false; problemAfter: (seconds: number) => string };

/** What the operator has to change when HAProxy does not load the path. */
export function addCrtHint(path: string): string {
  return `add "crt ${path}" to a bind line (or a crt-list) of that HAProxy's config`;
}

export function judgeLook(q: LoadQuestion, look: Look): LoadVerdict {
  const ran = `${q.where}: reload_command ran, but`;
  if (look.kind === "failed") return { done: false, problemAfter: (s) => `${ran} for ${s} s the socket gave no answer: ${look.error}` };
  if (look.serial !== null && sameSerial(look.serial, q.serial)) return { done: true, problem: null };
  if (look.serial !== null) {
    return { done: false, problemAfter: (s) => `${ran} after ${s} s HAProxy serves serial ${look.serial} for ${q.path}, which holds ${q.serial}` };
  }
  if (look.process !== null && look.process !== q.before) {
    return { done: true, problem: `${q.where}: reloaded (now process ${look.process}), but HAProxy still does not load ${q.path}: ${addCrtHint(q.path)}` };
  }
  const same = look.process === null ? "" : ` (process ${look.process}, from before the reload, still answers: does reload_command reload this HAProxy?)`;
  return { done: false, problemAfter: (s) => `${ran} after ${s} s HAProxy still does not load ${q.path}${same}: ${addCrtHint(q.path)}` };
}

/**
 * Looks at once, then every RELOAD_LOOK_INTERVAL_MS, the last look at the deadline.
 * Resolves null once HAProxy loads the file, else the problem to report; rejects only when
 * `signal` fires (RotaError "aborted").
 */
export async function awaitLoaded(q: LoadQuestion, look: () => Promise<Look>, clock: Clock, signal: AbortSignal): Promise<string | null> {
  const deadline = clock.now().getTime() + RELOAD_LOAD_WAIT_MS;
  for (;;) {
    const verdict = judgeLook(q, await look());
    if (verdict.done) return verdict.problem;
    const left = deadline - clock.now().getTime();
    if (left <= 0) return verdict.problemAfter(RELOAD_LOAD_WAIT_MS / 1000);
    await sleepOn(clock, Math.min(RELOAD_LOOK_INTERVAL_MS, left), signal).catch((err: unknown) => {
      throw new RotaError("aborted", `${q.where}: waiting for the reload cancelled`, { cause: err });
    });
  }
}
