/** @module `GET /api/openapi.json`: docs/openapi.json, bundled into the binary by the import (no file is read at run time). */
import { Hono } from "hono";
import document from "../../../docs/openapi.json";

export function openapiRoutes(): Hono {
  const body = JSON.stringify(document);
  return new Hono().get("/api/openapi.json", (c) => c.body(body, 200, { "content-type": "application/json" }));
}
