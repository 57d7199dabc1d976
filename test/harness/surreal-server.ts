/**
 * @module A test SurrealDB server: the real engine of `@surrealdb/node` behind a loopback
 * WebSocket pipe, so tests and the bench reach it with the normal SDK over ws:// or wss://.
 * Production uses a real SurrealDB server; background in `../shared/reference/test-stack.md`.
 *
 * `bun test/harness/surreal-server.ts <engine-url> <port> [<cert.pem> <key.pem>]`, with the
 * passwords in the environment (never on a command line): SURREAL_PASS for the `EDITOR`
 * user SURREAL_USER on rota/rota, SURREAL_ROOT_PASS for `root` (OWNER, for test set-up).
 * Each WebSocket connection gets its own engine session (`attach`); each frame goes to the
 * engine's `execute()` with that session set, and the engine's reply goes back byte for byte.
 * Live-query notifications are not routed: rota uses none. `GET /export` answers as the real
 * server's does for a root user (Basic auth, `Surreal-NS`/`Surreal-DB` headers): a full export,
 * for backup tests.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CborCodec, Uuid } from "surrealdb";

interface NativeEngine {
  execute(frame: Uint8Array): Promise<Uint8Array>;
  /** SurrealQL of the root session's namespace and database; `options` is a CBOR `SqlExportOptions`. */
  export(options: Uint8Array): Promise<string>;
}
interface NativeBinding {
  SurrealNodeEngine: { connect(url: string, options?: unknown): Promise<NativeEngine> };
}

const [engineUrl, portArg, certPath, keyPath] = process.argv.slice(2);
const { SURREAL_USER: user, SURREAL_PASS: password, SURREAL_ROOT_PASS: rootPassword } = process.env;
if (!engineUrl || !portArg || !user || !password || !rootPassword) {
  console.error("usage: SURREAL_USER=… SURREAL_PASS=… SURREAL_ROOT_PASS=… surreal-server.ts <engine-url> <port> [<cert.pem> <key.pem>]");
  process.exit(2);
}

// The package exports only its SDK engine, which hides `execute()`: the addon is loaded directly.
const require = createRequire(import.meta.url);
const pkgDir = dirname(fileURLToPath(import.meta.resolve("@surrealdb/node")));
const native = require(join(pkgDir, `surrealdb-node.${process.platform}-${process.arch}-gnu.node`)) as NativeBinding;
const engine = await native.SurrealNodeEngine.connect(engineUrl, { capabilities: { experimental: true } });
const cbor = new CborCodec({});
let seq = 0;

/** One RPC frame through the engine, in `session` (undefined: the engine's root session). */
async function call(method: string, params: unknown[] | undefined, session?: Uuid): Promise<unknown> {
  const reply = cbor.decode(await engine.execute(cbor.encode({ id: `h${++seq}`, method, ...(params ? { params } : {}), ...(session ? { session } : {}) })));
  if (isError(reply)) throw new Error(`surreal-server: ${method}: ${JSON.stringify(reply.error)}`);
  return reply;
}

await call("query", [
  `DEFINE NAMESPACE IF NOT EXISTS rota; USE NS rota; DEFINE DATABASE IF NOT EXISTS rota;
   DEFINE USER IF NOT EXISTS root ON ROOT PASSWORD ${JSON.stringify(rootPassword)} ROLES OWNER;
   USE NS rota DB rota; DEFINE USER IF NOT EXISTS ${user} ON DATABASE PASSWORD ${JSON.stringify(password)} ROLES EDITOR;`,
]);

function isError(v: unknown): v is { error: unknown } {
  return typeof v === "object" && v !== null && "error" in v;
}

interface Conn {
  session: Uuid;
  attached: Promise<unknown>;
}

/** The real server's `GET /export`, for root users: the credentials are checked by signing in on a session of their own. */
async function exportSql(req: Request): Promise<Response> {
  const [scheme, encoded] = (req.headers.get("authorization") ?? "").split(" ");
  const [username, ...rest] = scheme === "Basic" && encoded ? atob(encoded).split(":") : [];
  const ns = req.headers.get("surreal-ns");
  const db = req.headers.get("surreal-db");
  if (!username || !ns || !db) return new Response("export needs Basic auth and Surreal-NS/Surreal-DB headers", { status: 400 });
  const session = new Uuid(crypto.randomUUID());
  await call("attach", undefined, session);
  try {
    await call("signin", [{ user: username, pass: rest.join(":") }], session);
  } catch {
    return new Response("authentication failed", { status: 401 });
  } finally {
    await call("detach", undefined, session).catch(() => {});
  }
  await call("use", [ns, db]);
  return new Response(await engine.export(cbor.encode({})), { headers: { "content-type": "application/octet-stream" } });
}

Bun.serve<Conn>({
  hostname: "127.0.0.1",
  port: Number(portArg),
  tls: certPath && keyPath ? { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") } : undefined,
  fetch(req, server) {
    const path = new URL(req.url).pathname;
    if (path === "/export" && req.method === "GET") return exportSql(req);
    if (path !== "/rpc") return new Response("not found", { status: 404 });
    const session = new Uuid(crypto.randomUUID());
    const ok = server.upgrade(req, { data: { session, attached: call("attach", undefined, session) }, headers: { "Sec-WebSocket-Protocol": "cbor" } });
    return ok ? undefined : new Response("upgrade failed", { status: 400 });
  },
  websocket: {
    async message(ws, message) {
      await ws.data.attached;
      const frame = cbor.decode(typeof message === "string" ? new TextEncoder().encode(message) : new Uint8Array(message)) as Record<string, unknown>;
      frame.session ??= ws.data.session;
      const reply = await engine.execute(cbor.encode(frame));
      // The engine answers with the bare result (or `{error}`); the wire frame adds the request's id.
      const decoded = cbor.decode(reply);
      if (isError(decoded)) ws.send(cbor.encode({ id: frame.id, error: decoded.error }));
      else ws.send(Buffer.concat([Buffer.from([0xa2]), cbor.encode("id"), cbor.encode(frame.id), cbor.encode("result"), reply]));
    },
    close(ws) {
      void call("detach", undefined, ws.data.session).catch(() => {});
    },
  },
});
console.log(`surreal-server: listening on 127.0.0.1:${portArg} (${engineUrl})`);
