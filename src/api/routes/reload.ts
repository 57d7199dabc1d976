/** @module `POST /api/reload`: re-read the config file, as SIGHUP does. */
import { Hono } from "hono";
import { reloadJson, type ReloadJson } from "../json.ts";
import type { ApiDeps } from "../ports.ts";

export function reloadRoutes(deps: ApiDeps): Hono {
  return new Hono().post("/api/reload", async (c) => {
    const result = await deps.actions.reload();
    if (!result.ok) return c.json<ReloadJson>({ status: "invalid", error: `config ${result.file} is not valid; the daemon keeps running on the previous one`, problems: result.problems }, 422);
    return c.json(reloadJson(result));
  });
}
