/**
 * @module What `open.ts` promises about loading: the SQLite store is opened without the
 * SurrealDB code, and the engine of `@surrealdb/node` (tests and bench only) is imported
 * nowhere under `src/`: production talks to a real server with the pure-JS SDK.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SRC = join(import.meta.dir, "..");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : []));
}

test("no file under src/ imports @surrealdb/node", () => {
  const importing = sources(SRC).filter((f) => /from\s+["']@surrealdb\/node["']|import\(\s*["']@surrealdb\/node["']\s*\)/.test(readFileSync(f, "utf8")));
  expect(importing).toEqual([]);
});

test("opening an SQLite store loads no SurrealDB code", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-open-"));
  try {
    // A fresh process: the module registry of this one holds whatever other tests loaded.
    const script = `
      import { openAuditStore } from ${JSON.stringify(join(SRC, "store", "open.ts"))};
      import { createConsola } from "consola";
      const store = await openAuditStore(
        { daemon: { stateDir: ${JSON.stringify(dir)} }, audit: { backend: "sqlite", path: ${JSON.stringify(join(dir, "rota.db"))}, retentionDays: 400 } },
        { buffered: true, log: createConsola(), clock: { now: () => new Date() } },
      );
      console.log(JSON.stringify(store.health()));
      await store.close();
      const loaded = Object.keys(require.cache).filter((k) => /surreal/.test(k));
      console.log(JSON.stringify(loaded));
    `;
    const p = Bun.spawnSync(["bun", "-e", script], { stdout: "pipe", stderr: "pipe" });
    expect(p.stderr.toString()).toBe("");
    const [health, loaded] = p.stdout.toString().trim().split("\n");
    expect(JSON.parse(health!)).toEqual({ backend: "sqlite", connected: true, bufferedWrites: 0, droppedWrites: 0 });
    expect(JSON.parse(loaded!)).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the default owner is the host name and an id of the state folder: two daemons on one host are two owners", async () => {
  const { defaultOwner } = await import("./open.ts");
  const a = defaultOwner("/var/lib/rota", "nas-1");
  expect(a).toMatch(/^nas-1\/[0-9a-f]{8}$/);
  expect(defaultOwner("/var/lib/rota/", "nas-1")).toBe(a);
  expect(defaultOwner("/var/lib/rota-2", "nas-1")).not.toBe(a);
  expect(defaultOwner("/var/lib/rota", "nas-2")).toBe(`nas-2/${a.slice("nas-1/".length)}`);
});
