/** @module docs/openapi.json and the app agree: every route served is documented, and nothing documented is missing. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import type { Scheduler } from "../scheduler/scheduler.ts";
import { createApi, type ApiDeps } from "./app.ts";

test("the OpenAPI document lists exactly the routes the API serves", async () => {
  const doc = (await Bun.file(join(import.meta.dir, "..", "..", "docs", "openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  const app = createApi({ scheduler: {} as Scheduler } as ApiDeps);
  const served = app.routes.map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`);
  expect(new Set(served)).toEqual(new Set(documented));
  const guide = await Bun.file(join(import.meta.dir, "..", "..", "docs", "api.md")).text();
  for (const route of served) expect(guide).toContain(`\`${route}\``);
});
