/** @module The messages between the daemon's thread and the folder-watch thread (`watch-thread.ts`). */

/** Start watching `dir` under `id`, or stop the watch `id`. */
export type ToThread = { watch: { id: number; dir: string } } | { close: number };

/**
 * About the watch `id`, in order: `started` once its walk is done, then one `name` per event
 * (the path under the folder, "" for the folder itself), or `failed` (the errno code of a
 * start that failed, null for a watch that stopped): nothing more comes for that id.
 */
export type FromThread = { id: number; started: true } | { id: number; name: string } | { id: number; failed: string | null };
