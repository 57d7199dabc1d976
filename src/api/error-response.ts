/** @module The one shape of an error reply, built without hono: the start's front (`src/daemon/front.ts`) answers before the app is loaded. */

/** `{"error": message}` as every route answers it, `application/json` as hono's `c.json` (one content type for every reply, 400s included). */
export function errorResponse(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: message }), { status, headers: { "content-type": "application/json", ...headers } });
}
