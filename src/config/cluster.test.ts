/** @module `[cluster]` as the reader sees it: defaults, the node id from the host name, and each refused value's exact line. */
import { describe, expect, test } from "bun:test";
import { readCluster } from "./cluster.ts";
import { Problems, Reader } from "./reader.ts";

function read(table: Record<string, unknown>, host = "nas-1"): { cluster: ReturnType<typeof readCluster>; problems: string[] } {
  const problems = new Problems();
  const cluster = readCluster(new Reader(table, "cluster", { problems, baseDir: "/", env: {} }), host);
  return { cluster, problems: problems.list };
}

describe("[cluster]", () => {
  test("absent: off, with the defaults and the host name as node id", () => {
    expect(read({}, "NAS-1")).toEqual({ cluster: { enabled: false, nodeId: "nas-1", lockTtlSeconds: 30, syncIntervalSeconds: 60 }, problems: [] });
  });

  test("every key as given", () => {
    const { cluster, problems } = read({ enabled: true, node_id: "nas-2.lan_b", lock_ttl_seconds: 3, sync_interval_seconds: 86400 });
    expect(problems).toEqual([]);
    expect(cluster).toEqual({ enabled: true, nodeId: "nas-2.lan_b", lockTtlSeconds: 3, syncIntervalSeconds: 86400 });
  });

  test("a host name that is no node id: node_id is required when enabled, not otherwise", () => {
    // "NAS_1" lowercases to "nas_1", a valid id; a name with a character outside [a-z0-9._-] does not.
    expect(read({ enabled: true }, "NAS_1").problems).toEqual([]);
    expect(read({ enabled: true }, "Büro-NAS").problems).toEqual([`cluster.node_id: is required: the host name "Büro-NAS" is not a valid node id`]);
    expect(read({}, "Büro-NAS").problems).toEqual([]);
    expect(read({ enabled: true, node_id: "nas-1" }, "Büro-NAS").problems).toEqual([]);
    expect(read({ enabled: true }, "x".repeat(65)).problems).toEqual([`cluster.node_id: is required: the host name "${"x".repeat(65)}" is not a valid node id`]);
  });

  test("a node_id given that is no node id", () => {
    const why = "is not a valid node id: [a-z0-9][a-z0-9._-]*, at most 64 characters";
    expect(read({ enabled: true, node_id: "NAS_1" }).problems).toEqual([`cluster.node_id: "NAS_1" ${why}`]);
    expect(read({ node_id: "-nas" }).problems).toEqual([`cluster.node_id: "-nas" ${why}`]);
    expect(read({ node_id: "a".repeat(65) }).problems).toEqual([`cluster.node_id: "${"a".repeat(65)}" ${why}`]);
    expect(read({ node_id: "a".repeat(64) }).problems).toEqual([]);
  });

  test("the ranges of the timings, and the reader's usual lines", () => {
    for (const [key, low, high] of [
      ["lock_ttl_seconds", 3, 600],
      ["sync_interval_seconds", 1, 86400],
    ] as const) {
      expect(read({ [key]: low - 1 }).problems).toEqual([`cluster.${key}: must be between ${low} and ${high}`]);
      expect(read({ [key]: high + 1 }).problems).toEqual([`cluster.${key}: must be between ${low} and ${high}`]);
      expect(read({ [key]: 1.5 }).problems).toEqual([`cluster.${key}: must be an integer`]);
      expect(read({ [key]: "30" }).problems).toEqual([`cluster.${key}: must be an integer, not a string`]);
    }
  });

  test("enabled must be a boolean; unknown keys are refused", () => {
    expect(read({ enabled: "yes" }).problems).toEqual(["cluster.enabled: must be true or false, not a string"]);
    expect(read({ leader: "nas-1" }).problems).toEqual(["cluster.leader: unknown key"]);
  });
});
