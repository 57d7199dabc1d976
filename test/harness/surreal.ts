/**
 * @module The test SurrealDB (`surreal-server.ts`) as a process under `spawnServer`: stop,
 * kill and restart on the same port and data folder, and a root session for test set-up
 * (a database per test, users with other roles, a schema from the future).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Surreal } from "surrealdb";
import { makeLoopbackTls, type LoopbackTls } from "./certs.ts";
import { freePort } from "./ports.ts";
import { spawnServer, waitForPort, type ServerProcess } from "./proc.ts";

export interface SurrealOptions {
  dir: string;
  /** `rocksdb` (default): survives restarts and detects write conflicts. `mem`: quick unit runs. Never surrealkv (see the header of surreal-server.ts). */
  engine?: "rocksdb" | "mem";
  /** Serve wss:// with a certificate from the harness's loopback CA. */
  tls?: boolean;
}

export interface TestSurreal {
  /** `ws://127.0.0.1:PORT/rpc` or `wss://localhost:PORT/rpc`. */
  url: string;
  /** The EDITOR user on rota/rota. */
  username: string;
  password: string;
  /** The CA of the wss:// certificate. */
  tls: LoopbackTls | null;
  /** A root session (OWNER), for set-up; closed by `stop()`. */
  admin(): Promise<Surreal>;
  /** Defines database `name` in namespace rota with an `EDITOR` (or `role`) user `rota` having `password`. */
  database(name: string, password: string, role?: "EDITOR" | "VIEWER" | "OWNER"): Promise<void>;
  /** The server's full export of namespace rota, database `name` (default rota), as root: what an operator's backup holds. */
  exportSql(name?: string): Promise<string>;
  /** Graceful stop (SIGTERM); the data folder stays. */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Starts again on the same port and data folder. */
  restart(): Promise<void>;
  /** SIGSTOP: the port still accepts connections, nothing answers. */
  pause(): Promise<void>;
  /** SIGCONT after `pause`. */
  resume(): Promise<void>;
}

const SERVER = join(import.meta.dir, "surreal-server.ts");

export async function startSurreal(opts: SurrealOptions): Promise<TestSurreal> {
  mkdirSync(opts.dir, { recursive: true });
  const port = await freePort();
  const engine = opts.engine === "mem" ? "mem://" : `rocksdb://${join(opts.dir, "data")}`;
  const tls = opts.tls ? makeLoopbackTls(opts.dir) : null;
  const password = `pw-${crypto.randomUUID()}`;
  const rootPassword = `root-${crypto.randomUUID()}`;
  let proc: ServerProcess;
  let adminDb: Surreal | null = null;
  const url = `${tls ? "wss://localhost" : "ws://127.0.0.1"}:${port}/rpc`;

  const launch = async () => {
    proc = spawnServer({
      name: "surreal",
      logDir: opts.dir,
      cmd: ["bun", SERVER, engine, String(port), ...(tls ? [tls.certPath, tls.keyPath] : [])],
      env: { SURREAL_USER: "rota", SURREAL_PASS: password, SURREAL_ROOT_PASS: rootPassword },
    });
    await waitForPort(port, 30_000, proc);
  };
  await launch();

  const admin = async () => {
    if (adminDb) return adminDb;
    const db = new Surreal(tls ? { websocketImpl: caWebSocket(await Bun.file(tls.caPath).text()) } : {});
    await db.connect(url, { authentication: { username: "root", password: rootPassword }, reconnect: true, versionCheck: false });
    adminDb = db;
    return db;
  };

  return {
    url,
    username: "rota",
    password,
    tls,
    admin,
    async database(name, pw, role = "EDITOR") {
      const db = await admin();
      await db.query(`USE NS rota; DEFINE DATABASE IF NOT EXISTS ${name}; USE NS rota DB ${name}; DEFINE USER OVERWRITE rota ON DATABASE PASSWORD ${JSON.stringify(pw)} ROLES ${role};`).collect();
    },
    async exportSql(name = "rota") {
      const res = await fetch(`${tls ? "https://localhost" : "http://127.0.0.1"}:${port}/export`, {
        headers: { Authorization: `Basic ${btoa(`root:${rootPassword}`)}`, "Surreal-NS": "rota", "Surreal-DB": name },
        tls: tls ? { ca: await Bun.file(tls.caPath).text() } : undefined,
      });
      if (!res.ok) throw new Error(`surreal: export: HTTP ${res.status}: ${await res.text()}`);
      return res.text();
    },
    async stop() {
      await adminDb?.close();
      adminDb = null;
      await proc.stop();
    },
    async kill() {
      proc.kill();
      await proc.exited;
    },
    async restart() {
      if (proc.running) await proc.stop();
      await launch();
    },
    pause: () => proc.signal("SIGSTOP"),
    resume: () => proc.signal("SIGCONT"),
  };
}

/** A WebSocket trusting `ca`, as the store builds one for `ca_bundle`. */
function caWebSocket(ca: string): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, { protocols, tls: { ca } } as unknown as string[]);
    }
  };
}
