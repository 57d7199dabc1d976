/**
 * @module What the daemon's memory holds, asked from outside: preloaded into a daemon run
 * from the sources (`bun --smol --preload bench/heap-probe.ts src/main.ts daemon …`), it
 * answers SIGUSR2 by writing one JSON report to `$ROTA_HEAP_PROBE` (appended, one line per
 * signal): `/proc/self/status` and the JavaScript heap (`bun:jsc` `heapStats`, its largest
 * object types) as they were, then the same after a full collection, then after
 * `Bun.shrink()`. With `$ROTA_HEAP_SNAPSHOT` set to a path it also writes there, after the
 * full collection, a V8-format heap snapshot of what is live, for `bench/heap-groups.ts`. The
 * compiled binary cannot be asked this; run from the sources under `--smol` it holds the same
 * objects. A tool for `bench/README.md`'s memory figures, not a test.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { heapStats, memoryUsage } from "bun:jsc";

const out = process.env.ROTA_HEAP_PROBE;
const snapshot = process.env.ROTA_HEAP_SNAPSHOT;
const MiB = 2 ** 20;

function status(): Record<string, number> {
  const text = readFileSync("/proc/self/status", "utf8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN) / 1024;
  return { rss: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile"), hwm: field("VmHWM") };
}

/** The largest anonymous mappings by resident size (MiB): which allocator's regions hold the memory. */
function anonMappings(top: number): string[] {
  const maps: { range: string; name: string; rss: number; size: number }[] = [];
  let current: { range: string; name: string; rss: number; size: number } | null = null;
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const head = /^([0-9a-f]+-[0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      current = { range: head[1]!, name: head[3] ?? "", rss: 0, size: 0 };
      if (head[2] === "0") maps.push(current);
      continue;
    }
    const field = /^(Rss|Size):\s+(\d+) kB/.exec(line);
    if (field && current) current[field[1] === "Rss" ? "rss" : "size"] = Number(field[2]) / 1024;
  }
  maps.sort((a, b) => b.rss - a.rss);
  const total = maps.reduce((s, m) => s + m.rss, 0);
  return [`${maps.length} mappings, ${total.toFixed(1)} MiB resident`, ...maps.slice(0, top).map((m) => `${m.rss.toFixed(1)}/${m.size.toFixed(1)} ${m.name}`)];
}

/** The part of `heapStats().mimalloc` (Bun 1.4) read here. */
interface MimallocStats {
  committed: { current: number };
  malloc_normal: { current: number };
  malloc_huge: { current: number };
  malloc_bins: { current: number; block_size: number }[];
}

/** mimalloc's size classes holding the most, as `block size: MiB in live blocks`. */
function bins(mi: MimallocStats, top: number): string[] {
  return [...mi.malloc_bins]
    .sort((a, b) => b.current * b.block_size - a.current * a.block_size)
    .slice(0, top)
    .map((b) => `${b.block_size}: ${((b.current * b.block_size) / MiB).toFixed(1)}`);
}

function heap(top: number): Record<string, unknown> {
  const s = heapStats();
  const m = memoryUsage();
  const types = Object.entries(s.objectTypeCounts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);
  const mi = (s as unknown as { mimalloc?: MimallocStats }).mimalloc;
  return {
    heapMiB: s.heapSize / MiB,
    heapCapacityMiB: s.heapCapacity / MiB,
    // mimalloc's own count: what it has committed against what is allocated in it (live blocks, normal and huge).
    ...(mi ? { miCommittedMiB: mi.committed.current / MiB, miAllocatedMiB: (mi.malloc_normal.current + mi.malloc_huge.current) / MiB, miBins: bins(mi, 12) } : {}),
    extraMiB: s.extraMemorySize / MiB,
    objects: s.objectCount,
    protected: s.protectedObjectCount,
    mallocCurrentMiB: m.current / MiB,
    mallocPeakMiB: m.peak / MiB,
    types: Object.fromEntries(types),
  };
}

if (out && process.argv.includes("daemon")) {
  process.on("SIGUSR2", () => {
    const asIs = { ...status(), ...heap(40) };
    Bun.gc(true);
    const collected = { ...status(), ...heap(40) };
    if (snapshot) writeFileSync(snapshot, Bun.generateHeapSnapshot("v8"));
    Bun.shrink();
    const shrunk = { ...status(), anonMappings: anonMappings(20) };
    appendFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), asIs, collected, shrunk })}\n`);
  });
}
