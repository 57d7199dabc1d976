/** @module docs/openapi.json and the app agree: every route served is documented, and nothing documented is missing. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { createApi } from "./app.ts";
import type { ApiDeps } from "./ports.ts";

test("the OpenAPI document lists exactly the routes the API serves", async () => {
  const doc = (await Bun.file(join(import.meta.dir, "..", "..", "docs", "openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  const app = createApi({} as ApiDeps);
  // Middleware registers as method ALL: not a route.
  const served = app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`);
  expect(new Set(served)).toEqual(new Set(documented));
  const guide = await Bun.file(join(import.meta.dir, "..", "..", "docs", "api.md")).text();
  for (const route of served) expect(guide).toContain(`\`${route}\``);
});

test("GET /api/openapi.json serves the document", async () => {
  const doc = (await Bun.file(join(import.meta.dir, "..", "..", "docs", "openapi.json")).json()) as unknown;
  const res = await createApi({} as ApiDeps).request("/api/openapi.json");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json");
  expect(await res.json()).toEqual(doc);
});
