/**
 * @module Where the API server is and how rota proves who it is: in-cluster (the pod's
 * service account) or a kubeconfig file named in the config, read with `Bun.YAML`. Only
 * client certificates and bearer tokens are supported: `exec` and `auth-provider` would run
 * or embed another program's login, basic auth is gone from Kubernetes, and `proxy-url`
 * is not something Bun's fetch takes per request. `KUBECONFIG` and `~/.kube/config` are
 * never read: a daemon must not change cluster because of who started it.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { RotaError } from "../../../errors.ts";

export interface Connection {
  /** `https://host:port`, no trailing slash. */
  server: string;
  /** PEM of the CAs trusted for the API server; undefined: the system's. */
  ca: string | undefined;
  /** Client certificate and key (PEM), both or neither. */
  cert: string | undefined;
  key: string | undefined;
  serverName: string | undefined;
  insecureSkipVerify: boolean;
  /** The bearer token, read at each request (bound service-account tokens rotate); undefined: none. */
  token: (() => string) | undefined;
  /** The service account's or the context's namespace. */
  namespace: string | undefined;
}

function refused(message: string): RotaError {
  return new RotaError("k8s_config", message, { noRetry: true });
}

/** The pod's service account: `<dir>/{token,ca.crt,namespace}` and the `KUBERNETES_SERVICE_*` variables. */
export function inClusterConnection(dir: string, env: Record<string, string | undefined>): Connection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw refused("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set, so rota is not running in a pod: set kubeconfig");
  const tokenPath = join(dir, "token");
  const read = (path: string): string => {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new RotaError("k8s_config", `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };
  const nsPath = join(dir, "namespace");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: read(join(dir, "ca.crt")),
    cert: undefined,
    key: undefined,
    serverName: undefined,
    insecureSkipVerify: false,
    token: () => read(tokenPath).trim(),
    namespace: existsSync(nsPath) ? read(nsPath).trim() || undefined : undefined,
  };
}

type Table = Record<string, unknown>;

/**
 * The connection of `context` (default: `current-context`) in the kubeconfig at `path`.
 * Relative file names in it resolve against its folder, as kubectl does. Throws a
 * RotaError("k8s_config") naming what is missing or unsupported; never a secret.
 */
export function loadKubeconfig(path: string, context: string | undefined): Connection {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw refused(`${path} is not a readable kubeconfig: ${(err as Error).message}`);
  }
  const root = asTable(doc);
  const base = dirname(path);
  const ctxName = context ?? str(root["current-context"]);
  if (!ctxName) throw refused(`${path} has no current-context: set context`);
  const ctx = asTable(named(root, "contexts", ctxName, path).context);
  const clusterName = str(ctx.cluster);
  const userName = str(ctx.user);
  if (!clusterName) throw refused(`context "${ctxName}" names no cluster`);
  const cluster = asTable(named(root, "clusters", clusterName, path).cluster);
  const user = userName ? asTable(named(root, "users", userName, path).user) : {};

  const server = str(cluster.server);
  if (!server) throw refused(`cluster "${clusterName}" has no server`);
  if (!server.startsWith("https://")) throw refused(`cluster "${clusterName}" server ${server} is not https: rota sends a Secret's private key to it`);
  if (cluster["proxy-url"] !== undefined) throw refused(`cluster "${clusterName}" sets proxy-url; rota connects to the API server directly`);
  for (const way of ["exec", "auth-provider"] as const) {
    if (user[way] !== undefined) throw refused(`user "${userName}" authenticates with ${way}; rota supports client certificates and tokens`);
  }
  if (user.username !== undefined || user.password !== undefined) throw refused(`user "${userName}" authenticates with basic auth; rota supports client certificates and tokens`);

  const file = (p: string) => readFileSync(isAbsolute(p) ? p : resolve(base, p), "utf8");
  const pemOf = (t: Table, key: string, what: string): string | undefined => {
    const data = str(t[`${key}-data`]);
    if (data) return Buffer.from(data, "base64").toString("utf8");
    const p = str(t[key]);
    if (!p) return undefined;
    try {
      return file(p);
    } catch (err) {
      throw refused(`${what} ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = pemOf(user, "client-certificate", `user "${userName}" client-certificate`);
  const key = pemOf(user, "client-key", `user "${userName}" client-key`);
  if ((cert === undefined) !== (key === undefined)) throw refused(`user "${userName}" gives a client certificate without its key, or a key without its certificate`);
  const inline = str(user.token);
  const tokenFile = str(user.tokenFile);
  const token = inline ? () => inline : tokenFile ? () => file(tokenFile).trim() : undefined;
  if (cert === undefined && token === undefined) throw refused(`user "${userName ?? ""}" has neither a client certificate nor a token`);
  return {
    server: server.replace(/\/+$/, ""),
    ca: pemOf(cluster, "certificate-authority", `cluster "${clusterName}" certificate-authority`),
    cert,
    key,
    serverName: str(cluster["tls-server-name"]),
    insecureSkipVerify: cluster["insecure-skip-tls-verify"] === true,
    token,
    namespace: str(ctx.namespace),
  };
}

function named(root: Table, list: string, name: string, path: string): Table {
  const items = Array.isArray(root[list]) ? (root[list] as unknown[]) : [];
  const found = items.map(asTable).find((i) => i.name === name);
  if (!found) throw refused(`${path} has no ${list.slice(0, -1)} "${name}"`);
  return found;
}

function asTable(v: unknown): Table {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Table) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
