/**
 * @module The Kubernetes client is loaded only by apply.ts, with a dynamic import: issue 14
 * measured ~21 MB RSS for it in the compiled binary, so the daemon's start-up graph (from
 * src/main.ts), the adapter and the read must never import it statically.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const CLIENT = "@kubernetes/client-node";
const SRC = resolve(import.meta.dir, "../../../");
const transpilers = { ts: new Bun.Transpiler({ loader: "ts" }), tsx: new Bun.Transpiler({ loader: "tsx" }) };

/** Each import of the client in the local modules reachable from `entry` (static and dynamic imports followed), as "<file> <kind>". */
function clientImports(entry: string): string[] {
  const seen = new Set<string>();
  const found: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imp of transpilers[file.endsWith(".tsx") ? "tsx" : "ts"].scanImports(readFileSync(file, "utf8"))) {
      if (imp.path === CLIENT) found.push(`${relative(SRC, file)} ${imp.kind}`);
      // Assets imported as text (templates, styles) import nothing.
      if (imp.path.startsWith(".") && /\.tsx?$/.test(imp.path)) visit(join(dirname(file), imp.path));
    }
  };
  visit(entry);
  expect(seen.size).toBeGreaterThan(entry.endsWith("main.ts") ? 100 : 3);
  return found;
}

test.each([
  ["main.ts", ["backends/install/k8s-secret/apply.ts dynamic-import"]],
  ["backends/install/k8s-secret/k8s-secret.ts", ["backends/install/k8s-secret/apply.ts dynamic-import"]],
  ["backends/install/k8s-secret/read.ts", []],
])("from src/%s the client is reached only as a dynamic import in apply.ts", (entry, expected) => {
  expect(clientImports(join(SRC, entry))).toEqual(expected);
});
