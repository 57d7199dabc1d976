/**
 * @module A fake Kubernetes API server, the Secret part, on loopback HTTPS with its own CA
 * (as a cluster has): `GET` and server-side apply `PATCH` of
 * `/api/v1/namespaces/{ns}/secrets/{name}`. Built to the documented behaviour
 * (https://kubernetes.io/docs/reference/using-api/server-side-apply/, vendor-apis.md) with
 * the traps a backend could fall into:
 * - authentication by bearer token (a set the test rotates) or, in `cert` mode, only by a
 *   client certificate of the cluster CA (`requestCert` + `rejectUnauthorized`); 401 else;
 * - RBAC from docs/kubernetes/rbac.yaml, one verb removable per test (403 as the API says it);
 * - `application/apply-patch+yaml` only (415), `fieldManager` required and the body's
 *   name/namespace equal to the URL's (400);
 * - `type` immutable, `tls.crt`/`tls.key` required on a `kubernetes.io/tls` Secret (422);
 * - fields owned per manager: 409 FieldManagerConflict unless `force`, and fields a manager
 *   stops applying removed when nobody else owns them;
 * - `dryRun=All`, canned replies (429 with Retry-After, 5xx) and a stall mode.
 * Every request is recorded, headers and body included, so tests assert what was sent.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SERVICE_ACCOUNT_USER = "system:serviceaccount:web:rota";

export interface KubeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | null;
  contentType: string | null;
  body: string;
}

export interface FakeSecret {
  namespace: string;
  name: string;
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** base64 values, as the API holds them. */
  data: Record<string, string>;
  /** Field path (`.data.tls.crt`) → the managers owning it. */
  owners: Map<string, Set<string>>;
  resourceVersion: number;
}

export interface CannedReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface FakeKubeOptions {
  /** Where the CA, server and client certificates are written. */
  dir: string;
  /**
   * `token` (default): bearer tokens; `cert`: a client certificate of the cluster CA is
   * required by the TLS handshake (and a token, when one is sent too, must be valid).
   */
  auth?: "token" | "cert";
  rbacPath?: string;
}

export interface FakeKube {
  url: string;
  port: number;
  caPem: string;
  caPath: string;
  /** A client certificate the cluster CA signed for the service account's user name. */
  clientCertPem: string;
  clientKeyPem: string;
  /** A CA that signed nothing here: a wrong `certificate-authority`. */
  otherCaPem: string;
  /** Tokens accepted now; tests add and delete to rotate. */
  tokens: Set<string>;
  requests: KubeRequest[];
  canned: CannedReply[];
  /** While true, requests get no reply until `stall` turns false or the server stops. */
  stall: boolean;
  removeVerb(verb: "get" | "patch" | "create"): void;
  restoreVerbs(): void;
  seedSecret(s: { namespace: string; name: string; type: string; data: Record<string, string>; labels?: Record<string, string>; manager?: string }): void;
  secret(namespace: string, name: string): FakeSecret | undefined;
  /** A kubeconfig for this server; `ca` defaults to the cluster CA as certificate-authority-data. */
  kubeconfig(o: { user: { token: string } | { tokenFile: string } | "cert" | { certAndToken: string }; ca?: string | null; namespace?: string; serverName?: string }): string;
  /** Writes `<dir>/{token,ca.crt,namespace}` and returns the env of a pod. */
  serviceAccount(dir: string, token: string, namespace?: string): Record<string, string>;
  stop(): Promise<void>;
}

interface Rule {
  namespace: string;
  verbs: string[];
  resourceNames: string[];
}

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
}

function makeCerts(dir: string): void {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = (name: string, cn: string) =>
    openssl(["req", "-x509", ...ec, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "3", "-subj", `/CN=${cn}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  const leaf = (name: string, subj: string, ext: string[]) => {
    openssl(["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subj], dir);
    writeFileSync(join(dir, `${name}.ext`), ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", ...ext, ""].join("\n"));
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "kube-ca.pem", "-CAkey", "kube-ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "3", "-extfile", `${name}.ext`], dir);
  };
  ca("kube-ca", "fake kubernetes CA");
  ca("other-ca", "some other CA");
  leaf("apiserver", "/CN=kube-apiserver", ["extendedKeyUsage=serverAuth", "subjectAltName=DNS:kubernetes.default.svc,IP:127.0.0.1"]);
  leaf("client", `/CN=${SERVICE_ACCOUNT_USER}`, ["extendedKeyUsage=clientAuth"]);
}

function loadRules(path: string): Rule[] {
  const docs = Bun.YAML.parse(readFileSync(path, "utf8")) as Record<string, any>[];
  const bound = new Set(
    docs
      .filter((d) => d.kind === "RoleBinding" && (d.subjects ?? []).some((s: any) => `system:serviceaccount:${s.namespace}:${s.name}` === SERVICE_ACCOUNT_USER))
      .map((d) => `${d.metadata.namespace}/${d.roleRef.name}`),
  );
  return docs
    .filter((d) => d.kind === "Role" && bound.has(`${d.metadata.namespace}/${d.metadata.name}`))
    .flatMap((d) =>
      (d.rules ?? [])
        .filter((r: any) => (r.apiGroups ?? []).includes("") && (r.resources ?? []).includes("secrets"))
        .map((r: any) => ({ namespace: d.metadata.namespace, verbs: r.verbs ?? [], resourceNames: r.resourceNames ?? [] })),
    );
}

const status = (code: number, reason: string, message: string, details?: unknown) =>
  Response.json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details !== undefined && { details }), code }, { status: code });

/** The fields an apply sets, as managedFields paths, with their values. */
function fieldsOf(obj: any): Map<string, string> {
  const f = new Map<string, string>();
  if (obj.type !== undefined) f.set(".type", String(obj.type));
  for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) f.set(`.metadata.labels.${k}`, String(v));
  for (const [k, v] of Object.entries(obj.metadata?.annotations ?? {})) f.set(`.metadata.annotations.${k}`, String(v));
  for (const [k, v] of Object.entries(obj.data ?? {})) f.set(`.data.${k}`, String(v));
  return f;
}

function valueAt(s: FakeSecret, field: string): string | undefined {
  if (field === ".type") return s.type;
  const m = /^\.(metadata\.labels|metadata\.annotations|data)\.(.+)$/.exec(field)!;
  const table = m[1] === "data" ? s.data : m[1] === "metadata.labels" ? s.labels : s.annotations;
  return table[m[2]!];
}

function setAt(s: FakeSecret, field: string, value: string | undefined): void {
  if (field === ".type") {
    if (value !== undefined) s.type = value;
    return;
  }
  const m = /^\.(metadata\.labels|metadata\.annotations|data)\.(.+)$/.exec(field)!;
  const table = m[1] === "data" ? s.data : m[1] === "metadata.labels" ? s.labels : s.annotations;
  if (value === undefined) delete table[m[2]!];
  else table[m[2]!] = value;
}

function toJson(s: FakeSecret) {
  const managers = new Set([...s.owners.values()].flatMap((o) => [...o]));
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: s.name,
      namespace: s.namespace,
      resourceVersion: String(s.resourceVersion),
      ...(Object.keys(s.labels).length > 0 && { labels: s.labels }),
      ...(Object.keys(s.annotations).length > 0 && { annotations: s.annotations }),
      managedFields: [...managers].map((manager) => ({ manager, operation: manager === "rota" ? "Apply" : "Update", apiVersion: "v1" })),
    },
    type: s.type,
    data: s.data,
  };
}

function clone(s: FakeSecret): FakeSecret {
  return { ...s, labels: { ...s.labels }, annotations: { ...s.annotations }, data: { ...s.data }, owners: new Map([...s.owners].map(([k, v]) => [k, new Set(v)])) };
}

export function startFakeKube(o: FakeKubeOptions): FakeKube {
  makeCerts(o.dir);
  const read = (f: string) => readFileSync(join(o.dir, f), "utf8");
  const rules = loadRules(o.rbacPath ?? join(import.meta.dir, "../../docs/kubernetes/rbac.yaml"));
  const removed = new Set<string>();
  const secrets = new Map<string, FakeSecret>();
  const requests: KubeRequest[] = [];
  const canned: CannedReply[] = [];
  const tokens = new Set<string>();
  const stalled: (() => void)[] = [];
  let stall = false;
  const certMode = o.auth === "cert";

  const may = (verb: string, ns: string, name: string | null) =>
    !removed.has(verb) && rules.some((r) => r.namespace === ns && r.verbs.includes(verb) && (r.resourceNames.length === 0 || (name !== null && r.resourceNames.includes(name))));
  const forbidden = (verb: string, ns: string, name: string) =>
    status(403, "Forbidden", `secrets "${name}" is forbidden: User "${SERVICE_ACCOUNT_USER}" cannot ${verb} resource "secrets" in API group "" in the namespace "${ns}"`, { name, kind: "secrets" });

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const body = await req.text();
    requests.push({
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.get("authorization"),
      contentType: req.headers.get("content-type"),
      body,
    });
    if (stall) await new Promise<void>((resolve) => stalled.push(resolve));
    const c = canned.shift();
    if (c) return Response.json(c.body, { status: c.status, headers: c.headers });
    // In cert mode the handshake has proven the client; a token sent as well must still be valid.
    const auth = req.headers.get("authorization");
    if ((!certMode || auth !== null) && !(auth?.startsWith("Bearer ") && tokens.has(auth.slice(7)))) return status(401, "Unauthorized", "Unauthorized");
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url.pathname);
    if (!m) return status(404, "NotFound", "the server could not find the requested resource");
    const ns = decodeURIComponent(m[1]!);
    const name = decodeURIComponent(m[2]!);
    const key = `${ns}/${name}`;
    if (req.method === "GET") {
      if (!may("get", ns, name)) return forbidden("get", ns, name);
      const s = secrets.get(key);
      return s ? Response.json(toJson(s)) : status(404, "NotFound", `secrets "${name}" not found`, { name, kind: "secrets" });
    }
    if (req.method !== "PATCH") return status(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
    if (!may("patch", ns, name)) return forbidden("patch", ns, name);
    const ct = (req.headers.get("content-type") ?? "").split(";")[0]!.trim();
    if (ct !== "application/apply-patch+yaml") {
      return status(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml`);
    }
    const manager = url.searchParams.get("fieldManager");
    if (!manager) return status(400, "BadRequest", `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`);
    let obj: any;
    try {
      obj = Bun.YAML.parse(body);
    } catch (err) {
      return status(400, "BadRequest", `error decoding YAML: ${(err as Error).message}`);
    }
    if (obj?.apiVersion !== "v1" || obj?.kind !== "Secret") return status(400, "BadRequest", `the body is not a v1 Secret`);
    if (obj.metadata?.name !== name) return status(400, "BadRequest", `the name of the object (${obj.metadata?.name}) does not match the name on the URL (${name})`);
    if (obj.metadata?.namespace !== undefined && obj.metadata.namespace !== ns) {
      return status(400, "BadRequest", `the namespace of the object (${obj.metadata.namespace}) does not match the namespace on the URL (${ns})`);
    }
    const existing = secrets.get(key);
    if (!existing && !may("create", ns, null)) return forbidden("create", ns, name);
    const next: FakeSecret = existing
      ? clone(existing)
      : { namespace: ns, name, type: obj.type ?? "Opaque", labels: {}, annotations: {}, data: {}, owners: new Map(), resourceVersion: 0 };
    const applied = fieldsOf(obj);
    const force = url.searchParams.get("force") === "true";
    const conflicts: { field: string; other: string }[] = [];
    for (const [field, value] of applied) {
      for (const other of next.owners.get(field) ?? []) {
        if (other !== manager && valueAt(next, field) !== value) conflicts.push({ field, other });
      }
    }
    if (conflicts.length > 0 && !force) {
      const causes = conflicts.map((c) => ({ reason: "FieldManagerConflict", message: `conflict with "${c.other}" using v1`, field: c.field }));
      const list = conflicts.map((c) => `conflict with "${c.other}" using v1: ${c.field}`).join("\n- ");
      return status(409, "Conflict", `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? "" : "s"}: ${list}`, { causes });
    }
    for (const [field, owners] of [...next.owners]) {
      if (owners.has(manager) && !applied.has(field)) {
        owners.delete(manager);
        if (owners.size === 0) {
          next.owners.delete(field);
          setAt(next, field, undefined);
        }
      }
    }
    const wasType = next.type;
    for (const [field, value] of applied) {
      const owners = next.owners.get(field) ?? new Set<string>();
      if (force || valueAt(next, field) !== value) for (const other of [...owners]) if (other !== manager) owners.delete(other);
      owners.add(manager);
      next.owners.set(field, owners);
      setAt(next, field, value);
    }
    if (existing && next.type !== wasType) return status(422, "Invalid", `Secret "${name}" is invalid: type: Invalid value: "${next.type}": field is immutable`);
    if (next.type === "kubernetes.io/tls") {
      const missing = ["tls.crt", "tls.key"].filter((k) => next.data[k] === undefined).map((k) => `data[${k}]: Required value`);
      if (missing.length > 0) return status(422, "Invalid", `Secret "${name}" is invalid: [${missing.join(", ")}]`);
    }
    if (url.searchParams.get("dryRun") === "All") return Response.json(toJson(next));
    next.resourceVersion += 1;
    secrets.set(key, next);
    return Response.json(toJson(next), { status: existing ? 200 : 201 });
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: read("apiserver.pem"), key: read("apiserver.key"), ...(certMode && { ca: read("kube-ca.pem"), requestCert: true, rejectUnauthorized: true }) },
    fetch: handle,
  });
  const url = `https://127.0.0.1:${server.port}`;
  const caPem = read("kube-ca.pem");
  const b64 = (s: string) => Buffer.from(s).toString("base64");

  return {
    url,
    port: server.port!,
    caPem,
    caPath: join(o.dir, "kube-ca.pem"),
    clientCertPem: read("client.pem"),
    clientKeyPem: read("client.key"),
    otherCaPem: read("other-ca.pem"),
    tokens,
    requests,
    canned,
    get stall() {
      return stall;
    },
    set stall(v: boolean) {
      stall = v;
      if (!v) for (const release of stalled.splice(0)) release();
    },
    removeVerb: (verb) => void removed.add(verb),
    restoreVerbs: () => removed.clear(),
    seedSecret(s) {
      const manager = s.manager ?? "kubectl-create";
      const secret: FakeSecret = { namespace: s.namespace, name: s.name, type: s.type, labels: { ...s.labels }, annotations: {}, data: {}, owners: new Map(), resourceVersion: 1 };
      for (const [k, v] of Object.entries(s.data)) secret.data[k] = b64(v);
      for (const field of fieldsOf({ type: s.type, metadata: { labels: secret.labels }, data: secret.data }).keys()) secret.owners.set(field, new Set([manager]));
      secrets.set(`${s.namespace}/${s.name}`, secret);
    },
    secret: (ns, name) => secrets.get(`${ns}/${name}`),
    kubeconfig({ user, ca, namespace, serverName }) {
      const cluster: Record<string, unknown> = { server: url };
      const caPemGiven = ca === undefined ? caPem : ca;
      if (caPemGiven !== null) cluster["certificate-authority-data"] = b64(caPemGiven);
      if (serverName) cluster["tls-server-name"] = serverName;
      const certUser = { "client-certificate-data": b64(read("client.pem")), "client-key-data": b64(read("client.key")) };
      const u = user === "cert" ? certUser : "certAndToken" in user ? { ...certUser, token: user.certAndToken } : user;
      return JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "fake", cluster }],
        users: [{ name: "rota", user: u }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "rota", ...(namespace && { namespace }) } }],
        "current-context": "fake",
      });
    },
    serviceAccount(dir, token, namespace = "web") {
      writeFileSync(join(dir, "token"), token);
      writeFileSync(join(dir, "ca.crt"), caPem);
      writeFileSync(join(dir, "namespace"), namespace);
      return { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(server.port) };
    },
    async stop() {
      stall = false;
      for (const release of stalled.splice(0)) release();
      await server.stop(true);
    },
  };
}
