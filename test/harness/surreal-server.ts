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
 * Live-query notifications are not routed: rota uses none.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CborCodec, Uuid } from "surrealdb";

interface NativeEngine {
  execute(frame: Uint8Array): Promise<Uint8Array>;
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

Bun.serve<Conn>({
  hostname: "127.0.0.1",
  port: Number(portArg),
  tls: certPath && keyPath ? { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") } : undefined,
  fetch(req, server) {
    if (new URL(req.url).pathname !== "/rpc") return new Response("not found", { status: 404 });
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
