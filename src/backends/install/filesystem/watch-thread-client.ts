/**
 * @module Recursive folder watches run on a thread of their own (`watch-thread.ts`), so the
 * walk a watch's start does never holds the daemon's event loop (issue 11 §3). One thread for
 * every watched folder of the process, started with the first watch and ended with the last;
 * it never keeps the process alive.
 */
import type { FromThread, ToThread } from "./watch-protocol.ts";

/** What a recursive watch of one folder reports, in the order its watcher raised it. */
export interface WatchEvents {
  /** The watch runs: every change from now on is reported. */
  started(): void;
  /** A change at `name` under the folder; "" is the folder itself. */
  changed(name: string): void;
  /** The watch could not start (`code`: the errno code) or stopped (null): nothing more comes. */
  failed(code: string | null): void;
}

/** Stops a watch; nothing more is reported for it. Idempotent. */
export type StopWatch = () => void;

/** Starts a recursive watch of `dir`; never blocks on the walk. */
export type StartWatch = (dir: string, events: WatchEvents) => StopWatch;

/**
 * Where the thread's script is: in the compiled binary, an entry point of its own under the
 * embedded root (named as `src/` lays it out); from the sources, beside this file.
 */
function threadUrl(): string {
  return Bun.main.startsWith("/$bunfs/")
    ? new URL("./backends/install/filesystem/watch-thread.ts", "file:///$bunfs/root/").href
    : new URL("./watch-thread.ts", import.meta.url).href;
}

let thread: Worker | null = null;
let nextId = 0;
const watches = new Map<number, WatchEvents>();

/** `StartWatch` on the process's watch thread. */
export const startOnThread: StartWatch = (dir, events) => {
  const id = ++nextId;
  watches.set(id, events);
  send(running(), { watch: { id, dir } });
  return () => {
    if (!watches.delete(id) || !thread) return;
    if (watches.size > 0) send(thread, { close: id });
    else stop(thread);
  };
};

function running(): Worker {
  if (thread) return thread;
  // smol: a small heap; the thread holds the watchers and nothing else.
  const t = new Worker(threadUrl(), { smol: true, ref: false });
  t.onmessage = (e: MessageEvent<FromThread>) => {
    const m = e.data;
    const events = watches.get(m.id);
    if (!events) return;
    if ("name" in m) events.changed(m.name);
    else if ("started" in m) events.started();
    else {
      watches.delete(m.id);
      events.failed(m.failed);
    }
  };
  // The thread died (its script failed to load, or it crashed): every watch it ran is gone.
  const died = () => {
    if (thread === t) stopWatchThread();
  };
  t.addEventListener("error", died);
  t.addEventListener("close", died);
  thread = t;
  return t;
}

/**
 * Ends the thread, if it runs (the daemon's stop): every watch it ran is reported stopped, so
 * its hints are dropped, and a later watch starts a thread anew.
 */
export function stopWatchThread(): void {
  const t = thread;
  if (!t) return;
  thread = null;
  t.terminate();
  const lost = [...watches.values()];
  watches.clear();
  for (const events of lost) events.failed(null);
}

function send(t: Worker, message: ToThread): void {
  t.postMessage(message);
}

function stop(t: Worker): void {
  thread = null;
  t.terminate();
}
