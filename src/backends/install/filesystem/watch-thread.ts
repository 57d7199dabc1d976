/**
 * @module The thread that runs the folder watches (`watch-thread-client.ts` starts it): Bun's
 * `fs.watch(dir, { recursive: true })` walks the whole tree inside the call (200 to 340 ms
 * of CPU at 10,000 cert folders), which on the daemon's thread held every request behind it
 * (issue 11 §3). Each watch's events are posted in the order its watcher raised them, on
 * the one channel to the daemon's thread: what the fences rely on.
 *
 * A separate entry point of the compiled binary (`scripts/build-binary.ts`).
 */
import { watch, type FSWatcher } from "node:fs";
import type { FromThread, ToThread } from "./watch-protocol.ts";

declare const self: Worker;

const watchers = new Map<number, FSWatcher>();

const post = (message: FromThread): void => self.postMessage(message);

self.onmessage = (e: MessageEvent<ToThread>) => {
  const m = e.data;
  if ("close" in m) {
    watchers.get(m.close)?.close();
    watchers.delete(m.close);
    return;
  }
  const { id, dir } = m.watch;
  try {
    const w = watch(dir, { recursive: true }, (_event, name) => post({ id, name: name == null ? "" : String(name) }));
    w.on("error", () => {
      watchers.delete(id);
      w.close();
      post({ id, failed: null });
    });
    watchers.set(id, w);
    post({ id, started: true });
  } catch (err) {
    post({ id, failed: (err as NodeJS.ErrnoException).code ?? null });
  }
};
