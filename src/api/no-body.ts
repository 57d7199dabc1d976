/**
 * @module The API's POST routes take their options as query parameters and read no body.
 * A body sent anyway was meant to say something (`{"force":true}`, a config to load): it is
 * refused with a 400 naming the problem, never ignored (issue 6: "malformed JSON → 400
 * naming the problem"). A form carrying only the CSRF token (`_csrf`, the dashboard's way
 * of proving a cookie-borne request) says nothing and passes.
 */
import type { Context, MiddlewareHandler } from "hono";
import { errorResponse } from "./error-response.ts";

export const noBody: MiddlewareHandler = async (c, next) => {
  if (c.req.method === "GET" || c.req.method === "HEAD") return next();
  const problem = await bodyProblem(c);
  if (problem) return errorResponse(400, `${c.req.method} ${c.req.path} takes no body (its options are query parameters, as ?force=1): ${problem}`);
  return next();
};

/** Why the body must be refused, or null when there is none (or only a CSRF token). */
async function bodyProblem(c: Context): Promise<string | null> {
  const type = (c.req.header("Content-Type") ?? "").toLowerCase();
  if (type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/form-data")) {
    const form = await c.req.parseBody().catch(() => null);
    if (form === null) return "a malformed form";
    const extra = Object.keys(form).filter((f) => f !== "_csrf");
    return extra.length === 0 ? null : `a form with ${extra.map((f) => JSON.stringify(f)).join(", ")} was sent`;
  }
  const text = await c.req.text();
  if (text === "") return null;
  if (type.startsWith("application/json") || type.endsWith("+json")) {
    try {
      JSON.parse(text);
    } catch (err) {
      return `malformed JSON body (${(err as Error).message})`;
    }
    return "a JSON body was sent";
  }
  return `a body of ${Buffer.byteLength(text)} bytes was sent`;
}
