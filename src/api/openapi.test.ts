/** @module docs/openapi.json and the app agree: every route served is documented, and nothing documented is missing. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { createConsola } from "consola";
import { Hono } from "hono";
import { systemClock } from "../clock.ts";
import { createApi } from "./app.ts";
import { RENEWAL_STATUSES, TRIGGERS } from "./renewal-query.ts";
import type { ApiDeps } from "./ports.ts";
import { dashboardRoutes } from "../views/routes.tsx";
import { createTcpApp, type TcpAuth } from "./tcp.tsx";

/** `METHOD /path` of each route an app serves; middleware registers as method ALL and is no route. */
const routesOf = (app: { routes: { method: string; path: string }[] }) => app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`);

test("the OpenAPI document lists exactly the routes the API serves", async () => {
  const doc = (await Bun.file(join(import.meta.dir, "..", "..", "docs", "openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  // The socket's routes, those the TCP listener adds (sign-in, sign-out) and the dashboard's
  // form posts, which take a Bearer token too; the dashboard's pages (GET, HTML) are not API.
  const tcp = createTcpApp(new Hono(), { auth: () => ({}) as TcpAuth, pages: new Hono(), assets: new Hono(), clock: systemClock, log: createConsola() });
  const forms = routesOf(dashboardRoutes({} as ApiDeps)).filter((r) => !r.startsWith("GET "));
  expect(forms).toEqual(["POST /certs/{id}/renew"]);
  const served = [...new Set([...routesOf(createApi({} as ApiDeps)), ...routesOf(tcp), ...forms])];
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

test("GET /api/renewals: the status and trigger filters name every value the API accepts", async () => {
  type Param = { name: string; description: string };
  const doc = (await Bun.file(join(import.meta.dir, "..", "..", "docs", "openapi.json")).json()) as { paths: Record<string, { get: { parameters: Param[] } }> };
  const described = (name: string) => doc.paths["/api/renewals"]!.get.parameters.find((p) => p.name === name)!.description;
  expect(described("status")).toBe(`One or more of ${RENEWAL_STATUSES.join(", ")}, comma-separated`);
  expect(described("trigger")).toBe(`One or more of ${TRIGGERS.join(", ")}, comma-separated`);
});

test("every route that asks a credential on TCP documents its 401, and only the anonymous ones say so", async () => {
  type Op = { security?: unknown[]; responses: Record<string, unknown> };
  const doc = (await Bun.file(join(import.meta.dir, "..", "..", "docs", "openapi.json")).json()) as { security: unknown[]; paths: Record<string, Record<string, Op>> };
  expect(doc.security).not.toContainEqual({});
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const route = `${method.toUpperCase()} ${path}`;
      const anonymous = (op.security ?? doc.security).some((s) => Bun.deepEquals(s, {}));
      expect([route, anonymous]).toEqual([route, ["GET /healthz", "GET /login", "POST /login"].includes(route)]);
      if (!anonymous) expect([route, Object.keys(op.responses)]).toEqual([route, expect.arrayContaining(["401"])]);
      if (method === "post") expect([route, Object.keys(op.responses)]).toEqual([route, expect.arrayContaining(["403", "413"])]);
    }
  }
});
