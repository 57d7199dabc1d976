/**
 * @module What the API refuses before a route acts (tester's findings on issue 6): a body on
 * a route whose options are query parameters (malformed JSON or not), a parameter given
 * twice, a yes/no option with another value. Each is a 400 naming the problem, every 400 is
 * `application/json` like the other replies, and nothing was done.
 */
import { expect, test } from "bun:test";
import { createConsola } from "consola";
import { createApi } from "./app.ts";
import type { ApiDeps } from "./ports.ts";

const done: string[] = [];
const cert = { config: { id: "c001" } };
const deps = {
  log: createConsola({ level: Number.NEGATIVE_INFINITY }),
  certs: { find: (id: string) => (id === "c001" ? cert : undefined) },
  store: { listRenewalHeads: async () => [] },
  actions: {
    reload: async () => {
      done.push("reload");
      return { ok: false, file: "rota.toml", problems: ["not in this test"] };
    },
    renew: async (_c: unknown, opts: { force: boolean; newKey: boolean }) => {
      done.push(`renew force=${opts.force} new_key=${opts.newKey}`);
      return { status: "not_due", reason: "fine", renewAt: null, ariWindow: null };
    },
  },
  alerts: {
    sinkNames: () => [],
    test: async () => {
      done.push("alert test");
      return [];
    },
  },
} as unknown as ApiDeps;
const app = createApi(deps);

const post = (path: string, body?: string, type = "application/json") => app.request(path, { method: "POST", body, headers: body === undefined ? {} : { "Content-Type": type } });

async function refused(res: Response): Promise<string> {
  expect(res.status).toBe(400);
  expect(res.headers.get("content-type")).toBe("application/json");
  return ((await res.json()) as { error: string }).error;
}

test("malformed JSON is a 400 naming the problem, on every POST route; nothing is done", async () => {
  done.length = 0;
  for (const path of ["/api/reload", "/api/alerts/test", "/api/certs/c001/renew"]) {
    expect(await refused(await post(path, "{bad"))).toStartWith(`POST ${path} takes no body (its options are query parameters, as ?force=1): malformed JSON body (`);
  }
  expect(done).toEqual([]);
});

test("a well-formed body is refused too: {\"force\":true} must not renew as if unforced", async () => {
  done.length = 0;
  expect(await refused(await post("/api/certs/c001/renew", '{"force":true}'))).toEndWith(": a JSON body was sent");
  expect(await refused(await post("/api/reload", "config", "text/plain"))).toEndWith(": a body of 6 bytes was sent");
  expect(await refused(await post("/api/reload", "force=1", "application/x-www-form-urlencoded"))).toEndWith(': a form with "force" was sent');
  expect(done).toEqual([]);
});

test("no body, or a form holding only the CSRF token, passes", async () => {
  done.length = 0;
  expect((await post("/api/reload")).status).toBe(422);
  expect((await post("/api/reload", "", "application/json")).status).toBe(422);
  expect((await post("/api/reload", "_csrf=abc", "application/x-www-form-urlencoded")).status).toBe(422);
  expect(done).toEqual(["reload", "reload", "reload"]);
});

test("force and new_key take 1/0, true/false, yes/no: an empty or other value is a 400, not 'no'", async () => {
  done.length = 0;
  expect(await refused(await post("/api/certs/c001/renew?force="))).toBe("force must be 1 or 0 (or true/false, yes/no)");
  expect(await refused(await post("/api/certs/c001/renew?new_key=2"))).toBe("new_key must be 1 or 0 (or true/false, yes/no)");
  expect(done).toEqual([]);
  expect((await post("/api/certs/c001/renew?force=yes&new_key=0")).status).toBe(200);
  expect(done).toEqual(["renew force=true new_key=false"]);
});

test("a query parameter given twice is a 400, not its first value", async () => {
  expect(await refused(await app.request("/api/renewals?cert=c001&cert=other"))).toBe("cert is given more than once; give it once");
  expect(await refused(await app.request("/api/certs?limit=1&limit=2"))).toBe("limit is given more than once; give it once");
});

test("a parameter's bad value is a 400 with the same content type", async () => {
  expect(await refused(await app.request("/api/renewals?limit=0"))).toBe("limit must be an integer from 1 to 1000");
});

test("POST /api/alerts/test: an empty sink= or cert= is a 400, not every sink or no cert", async () => {
  done.length = 0;
  expect(await refused(await post("/api/alerts/test?sink="))).toBe("sink must be the name of an [[alert]] sink");
  expect(await refused(await post("/api/alerts/test?cert="))).toBe("cert must be a cert id");
  expect(done).toEqual([]);
});
