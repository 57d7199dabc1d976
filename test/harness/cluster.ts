/**
 * @module A rota cluster on loopback for the end-to-end tests: pebble, one nginx on one
 * shared webroot (HTTP-01 is answered for whichever node leads), the test SurrealDB on
 * rocksdb, and `dist/rota daemon` nodes, each with its own state folder, socket, install
 * folder and a copy of the same key. Everything a test asks of a node goes through its
 * socket (`/api/cluster`, the CLI), as an operator would; the database is read as root.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import type { Surreal } from "surrealdb";
import type { ClusterStatusBody } from "../../src/cluster/types.ts";
import { startNginx, type Nginx } from "./nginx.ts";
import { startPebble, type Pebble } from "./pebble.ts";
import { waitFor, WaitAborted } from "./proc.ts";
import { runRota, startDaemon, type Daemon, type RotaResult } from "./rota.ts";
import { startSurreal, type TestSurreal } from "./surreal.ts";
import { makeTempDir, removeTempDir } from "./tmp.ts";

export interface ClusterOptions {
  /** Nodes `startCluster` makes (not starts), named nas-1 … nas-N; default 3. */
  nodes?: number;
  lockTtlSeconds?: number;
  syncIntervalSeconds?: number;
  /** The certs every node manages, all issued by pebble over the shared webroot. */
  certs?: Array<{ id: string; domains: string[] }>;
}

export interface NodeOptions {
  /** `shared` (default): a copy of the cluster's key for each cert; `own`: a key of the same type made for this node alone; `none`: no key file. */
  key?: "shared" | "own" | "none";
  /** Raw TOML appended to this node's config. */
  extra?: string;
  /** Leaves `[audit]` out: the node would use SQLite. */
  withoutAudit?: boolean;
}

export interface ClusterNode {
  nodeId: string;
  dir: string;
  stateDir: string;
  socket: string;
  /** The folder of its filesystem install target: `<installDir>/<cert id>/cert.pem`. */
  installDir: string;
  /** The key file of `certId` on this node. */
  keyPath(certId: string): string;
  configPath: string;
  /** The running daemon, or null. */
  readonly daemon: Daemon | null;
  readonly running: boolean;
  /** Starts the daemon and resolves once its API answers; fails at once, with the log, if it exits first. */
  start(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number>;
  /** SIGKILL, and waits until it is gone. */
  kill(): Promise<void>;
  /** `GET /api/cluster` over the socket. */
  cluster(): Promise<ClusterStatusBody>;
  /** `rota cluster status --json`: the exit code and the parsed report. */
  clusterStatus(): Promise<{ code: number; body: ClusterStatusBody | null; result: RotaResult }>;
  /** `rota <args> --socket <this node's socket>`. */
  rota(args: string[]): Promise<RotaResult>;
  /** Serial of the certificate installed for `certId` (lowercase hex), or null. */
  installedSerial(certId: string): string | null;
  /** The daemon's log, every start appended. */
  output(): string;
}

/** One `issued_cert` row as the database holds it. */
export interface IssuedRow {
  cert_id: string;
  serial: string;
  renewal_id: string;
  issued_at: Date;
  not_after: Date;
  term?: number | null;
  node?: string | null;
}

export interface TestCluster {
  dir: string;
  webroot: string;
  pebble: Pebble;
  nginx: Nginx;
  surreal: TestSurreal;
  lockTtlSeconds: number;
  syncIntervalSeconds: number;
  /** Every node made so far, started or not. */
  nodes: ClusterNode[];
  /** Makes (does not start) another node, nas-<n+1> unless `nodeId` is given. */
  addNode(opts?: NodeOptions & { nodeId?: string }): ClusterNode;
  /** Writes a config for `node` with these options (replacing its own) and returns its path, for refusal tests. */
  writeConfig(node: ClusterNode, opts: NodeOptions): string;
  /**
   * Waits until exactly one running node (of `among`, default all running) reports itself
   * leader and every other one names it, and returns it with its term.
   */
  waitForLeader(opts?: { among?: ClusterNode[]; timeoutMs?: number }): Promise<{ node: ClusterNode; term: number }>;
  /** Waits until one of `among` says it leads (its own view, as soon as it has the lease), and returns it with its term. */
  waitForAnyLeader(among: ClusterNode[], timeoutMs?: number): Promise<{ node: ClusterNode; term: number }>;
  /** Nodes whose daemon runs. */
  running(): ClusterNode[];
  /** A root session on rota/rota (the test server's; closed when the database stops). */
  db(): Promise<Surreal>;
  /** `issued_cert` rows of `certId`, oldest first. */
  issued(certId: string): Promise<IssuedRow[]>;
  /** Stops the database (SIGTERM); its data stays. */
  stopDatabase(): Promise<void>;
  /** Starts it again on the same port and data. */
  startDatabase(): Promise<void>;
  stop(): Promise<void>;
}

/** The daemon gets no CA from the environment: only `ca_bundle` makes pebble trusted. */
const DAEMON_ENV = { NODE_EXTRA_CA_CERTS: undefined, SSL_CERT_FILE: undefined };

export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const dir = makeTempDir("rota-cluster-");
  const lockTtlSeconds = opts.lockTtlSeconds ?? 3;
  const syncIntervalSeconds = opts.syncIntervalSeconds ?? 2;
  const certs = opts.certs ?? [{ id: "www", domains: ["www.example.test", "example.test"] }];
  const webroot = join(dir, "webroot");
  mkdirSync(webroot, { mode: 0o755 });
  const nginx = await startNginx({ prefix: join(dir, "nginx"), webroot });
  const pebble = await startPebble({ dir: join(dir, "pebble"), httpPort: nginx.port });
  const surreal = await startSurreal({ dir: join(dir, "surreal"), engine: "rocksdb" });
  const passwordFile = join(dir, "surreal.pass");
  writeFileSync(passwordFile, `${surreal.password}\n`, { mode: 0o600 });

  // One key per cert, made once: every node installs what the leader's order carries, so all hold the same key.
  const keysDir = join(dir, "keys");
  mkdirSync(keysDir, { mode: 0o700 });
  const sharedKey = (certId: string) => join(keysDir, `${certId}.key`);
  for (const cert of certs) writeFileSync(sharedKey(cert.id), p256Pem(), { mode: 0o600 });

  function configText(node: ClusterNode, o: NodeOptions): string {
    const auditSection = o.withoutAudit
      ? ""
      : `[audit]\nbackend = "surrealdb"\nurl = ${JSON.stringify(surreal.url)}\nusername = ${JSON.stringify(surreal.username)}\npassword_file = ${JSON.stringify(passwordFile)}\nconnect_timeout_seconds = 5\n`;
    return [
      "[daemon]",
      `state_dir = ${JSON.stringify(node.stateDir)}`,
      `socket = ${JSON.stringify(node.socket)}`,
      "check_interval_seconds = 3600",
      // Short, so a refused sync is retried within the test (and shown to raise one event only).
      "failure_cooldown_seconds = 1",
      "failure_cooldown_max_seconds = 2",
      "",
      "[cluster]",
      "enabled = true",
      `node_id = ${JSON.stringify(node.nodeId)}`,
      `lock_ttl_seconds = ${lockTtlSeconds}`,
      `sync_interval_seconds = ${syncIntervalSeconds}`,
      "",
      auditSection,
      '[[ca]]\nname = "pebble"\ntype = "acme"',
      `directory_url = ${JSON.stringify(pebble.directoryUrl)}`,
      'email = "ops@example.test"',
      `ca_bundle = ${JSON.stringify(pebble.caBundlePath)}`,
      "",
      `[[dcv]]\nname = "web"\ntype = "webroot"\npath = ${JSON.stringify(webroot)}`,
      "",
      `[[install]]\nname = "files"\ntype = "filesystem"\ndir = ${JSON.stringify(node.installDir)}`,
      ...certs.map(
        (c) =>
          `\n[[cert]]\nid = "${c.id}"\ndomains = ${JSON.stringify(c.domains)}\nca = "pebble"\ndcv = "web"\ninstall = "files"\nkey_type = "ecdsa-p256"\nkey_path = ${JSON.stringify(node.keyPath(c.id))}\n`,
      ),
      o.extra ?? "",
    ].join("\n");
  }

  const nodes: ClusterNode[] = [];

  function writeConfig(node: ClusterNode, o: NodeOptions): string {
    writeFileSync(node.configPath, configText(node, o));
    return node.configPath;
  }

  function addNode(o: NodeOptions & { nodeId?: string } = {}): ClusterNode {
    const nodeId = o.nodeId ?? `nas-${nodes.length + 1}`;
    const nodeDir = join(dir, nodeId);
    mkdirSync(join(nodeDir, "keys"), { recursive: true, mode: 0o700 });
    mkdirSync(join(nodeDir, "installed"), { recursive: true });
    const keyPath = (certId: string) => join(nodeDir, "keys", `${certId}.key`);
    for (const cert of certs) {
      if (o.key === "none") continue;
      if (o.key === "own") writeFileSync(keyPath(cert.id), p256Pem(), { mode: 0o600 });
      else copyFileSync(sharedKey(cert.id), keyPath(cert.id));
      chmodSync(keyPath(cert.id), 0o600);
    }
    let daemon: Daemon | null = null;
    const get = (path: string) => fetch(`http://rota${path}`, { unix: node.socket });
    const node: ClusterNode = {
      nodeId,
      dir: nodeDir,
      stateDir: join(nodeDir, "state"),
      socket: join(nodeDir, "rota.sock"),
      installDir: join(nodeDir, "installed"),
      keyPath,
      configPath: join(nodeDir, "rota.toml"),
      get daemon() {
        return daemon;
      },
      get running() {
        return daemon?.server.running ?? false;
      },
      async start() {
        if (node.running) throw new Error(`${nodeId} is already running`);
        const d = startDaemon(node.configPath, { env: DAEMON_ENV, logDir: nodeDir });
        daemon = d;
        // The log is appended to across restarts: readiness is the API answering, not a log line.
        await waitFor(
          async () => {
            if (!d.server.running) throw new WaitAborted(`${nodeId} exited (code ${await d.server.exited}) before its API answered:\n${d.output()}`);
            return (await get("/api/cluster")).ok;
          },
          30_000,
          100,
          `${nodeId}'s API`,
        );
      },
      async stop() {
        return daemon ? daemon.stop() : 0;
      },
      async kill() {
        if (!daemon) return;
        daemon.kill();
        await daemon.server.exited;
      },
      async cluster() {
        const res = await get("/api/cluster");
        if (!res.ok) throw new Error(`${nodeId}: GET /api/cluster: HTTP ${res.status}: ${await res.text()}`);
        return (await res.json()) as ClusterStatusBody;
      },
      async clusterStatus() {
        const result = await node.rota(["cluster", "status", "--json"]);
        let body: ClusterStatusBody | null = null;
        try {
          body = JSON.parse(result.stdout) as ClusterStatusBody;
        } catch {
          // Not JSON: the caller sees `result`.
        }
        return { code: result.code, body, result };
      },
      rota: (args) => runRota([...args, "--socket", node.socket], { env: DAEMON_ENV }),
      installedSerial(certId) {
        const path = join(node.installDir, certId, "cert.pem");
        if (!existsSync(path)) return null;
        const p = Bun.spawnSync(["openssl", "x509", "-in", path, "-noout", "-serial"], { stdout: "pipe", stderr: "pipe" });
        return p.exitCode === 0 ? p.stdout.toString().trim().replace(/^serial=/, "").toLowerCase() : null;
      },
      output: () => daemon?.output() ?? "",
    };
    writeConfig(node, o);
    nodes.push(node);
    return node;
  }

  for (let i = 0; i < (opts.nodes ?? 3); i++) addNode();
  const running = () => nodes.filter((n) => n.running);

  async function waitForLeader(o: { among?: ClusterNode[]; timeoutMs?: number } = {}) {
    return waitFor(
      async () => {
        const among = o.among ?? running();
        const views = await Promise.all(among.map(async (n) => ({ node: n, view: await n.cluster() })));
        const leaders = views.filter((v) => v.view.role === "leader");
        if (leaders.length !== 1) return null;
        const [{ node, view }] = leaders as [(typeof views)[number]];
        const agreed = views.every((v) => v.view.leader?.node_id === node.nodeId && v.view.term === view.term);
        return agreed && view.term !== null ? { node, term: view.term } : null;
      },
      o.timeoutMs ?? 30_000,
      100,
      "exactly one leader, named by every node",
    );
  }

  async function waitForAnyLeader(among: ClusterNode[], timeoutMs = 30_000) {
    return waitFor(
      async () => {
        for (const node of among) {
          const view = await node.cluster().catch(() => null);
          if (view?.role === "leader" && view.term !== null) return { node, term: view.term };
        }
        return null;
      },
      timeoutMs,
      50,
      `a leader among ${among.map((n) => n.nodeId).join(", ")}`,
    );
  }

  async function query<T>(sql: string, vars?: Record<string, unknown>): Promise<T> {
    const db = await surreal.admin();
    const [, rows] = await db.query(`USE NS rota DB rota; ${sql}`, vars).collect<[unknown, T]>();
    return rows;
  }

  return {
    dir,
    webroot,
    pebble,
    nginx,
    surreal,
    lockTtlSeconds,
    syncIntervalSeconds,
    nodes,
    addNode,
    writeConfig,
    waitForLeader,
    waitForAnyLeader,
    running,
    db: () => surreal.admin(),
    issued: (certId) => query<IssuedRow[]>("SELECT * FROM issued_cert WHERE cert_id = $c ORDER BY issued_at", { c: certId }),
    stopDatabase: () => surreal.stop(),
    startDatabase: () => surreal.restart(),
    async stop() {
      await Promise.all(running().map((n) => n.stop().catch(() => 0)));
      await surreal.stop().catch(() => {});
      await nginx.stop().catch(() => {});
      await pebble.stop().catch(() => {});
      removeTempDir(dir);
    },
  };
}

/** An ECDSA P-256 key as rota writes one (PKCS#8 PEM). */
function p256Pem(): string {
  return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}
