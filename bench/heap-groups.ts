/**
 * @module What a heap snapshot holds, grouped: reads a V8-format snapshot (`heap-probe.ts` with
 * `$ROTA_HEAP_SNAPSHOT`, or `Bun.generateHeapSnapshot("v8")`) and prints its objects grouped by
 * type and property names (count, bytes, and the commonest retainer: the parent's group and the
 * edge's name), then the strings held more than `--dup` times with the same text. A tool for
 * `bench/README.md`'s memory figures, not a test.
 *
 * Usage: bun bench/heap-groups.ts SNAPSHOT [--top 40] [--dup 1000]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "40" }, dup: { type: "string", default: "1000" } },
});
if (!positionals[0]) {
  console.log("Usage: bun bench/heap-groups.ts SNAPSHOT [--top 40] [--dup 1000]");
  process.exit(2);
}
const snap = JSON.parse(readFileSync(positionals[0], "utf8")) as Snapshot;
const { meta } = snap.snapshot;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const [nType, nName, , nSize, nEdges] = [0, 1, 2, 3, 4];
const count = snap.nodes.length / NF;

// Each node's group: its type and name, and for objects their property names.
const group = new Array<string>(count);
const parentOf = new Int32Array(count).fill(-1);
const parentEdge = new Array<string>(count);
let e = 0;
for (let i = 0; i < count; i++) {
  const base = i * NF;
  const type = nodeTypes[snap.nodes[base + nType]!]!;
  const name = snap.strings[snap.nodes[base + nName]!]!;
  const props: string[] = [];
  const edgeCount = snap.nodes[base + nEdges]!;
  for (let k = 0; k < edgeCount; k++, e += EF) {
    const et = edgeTypes[snap.edges[e]!]!;
    const to = snap.edges[e + 2]! / NF;
    const label = et === "element" || et === "hidden" ? `[${et}]` : String(snap.strings[snap.edges[e + 1]!] ?? snap.edges[e + 1]);
    if (et === "property") props.push(label);
    if (parentOf[to] === -1 && et !== "weak") {
      parentOf[to] = i;
      parentEdge[to] = label;
    }
  }
  group[i] = type === "string" ? "string" : props.length ? `${name} {${props.sort().join(",")}}` : `${type}:${name}`;
}

const groups = new Map<string, { n: number; bytes: number; retainers: Map<string, number> }>();
const strings = new Map<string, number>();
for (let i = 0; i < count; i++) {
  const g = group[i]!;
  let entry = groups.get(g);
  if (!entry) groups.set(g, (entry = { n: 0, bytes: 0, retainers: new Map() }));
  entry.n++;
  entry.bytes += snap.nodes[i * NF + nSize]!;
  const p = parentOf[i]!;
  const by = p === -1 ? "(root)" : `${group[p]!.slice(0, 60)} .${parentEdge[i]}`;
  entry.retainers.set(by, (entry.retainers.get(by) ?? 0) + 1);
  if (g === "string") {
    const text = snap.strings[snap.nodes[i * NF + nName]!]!;
    strings.set(text, (strings.get(text) ?? 0) + 1);
  }
}

const top = Number(values.top);
console.log(`${count} nodes`);
for (const [g, v] of [...groups].sort((a, b) => b[1].n - a[1].n).slice(0, top)) {
  const [by, n] = [...v.retainers].sort((a, b) => b[1] - a[1])[0]!;
  console.log(`${String(v.n).padStart(8)} ${String(v.bytes).padStart(10)} B  ${g.slice(0, 140)}\n${" ".repeat(22)}held by ${by} (${n})`);
}
console.log("\nstrings held many times with the same text:");
for (const [text, n] of [...strings].filter(([, n]) => n >= Number(values.dup)).sort((a, b) => b[1] - a[1])) {
  console.log(`${String(n).padStart(8)}  ${JSON.stringify(text.slice(0, 80))}`);
}
