/**
 * @module K8sSecretInstall against the fake API server (test/fakes/kube-apiserver.ts): the
 * install contract with break and mend, then each behaviour issue 14 asks to show, asserting
 * the requests sent as well as what the Secret holds.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { generateKeyPem } from "../../../crypto/keys.ts";
import { startFakeKube, type FakeKube } from "../../../../test/fakes/kube-apiserver.ts";
import { makeInstallFixtures, runInstallContract, type InstallFixtures } from "../contract.ts";
import { secretManifest } from "./apply.ts";
import type { K8sSecretConfig } from "./config.ts";
import { createK8sSecretTarget } from "./k8s-secret.ts";

const root = mkdtempSync(join(tmpdir(), "rota-k8s-secret-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const signal = new AbortController().signal;
const TOKEN = "k8s-test-token-5c1d";
let seq = 0;

/** A fresh fake and a token kubeconfig for it in a folder of its own. */
function world(auth: "token" | "cert" = "token") {
  const dir = join(root, `w${++seq}`);
  mkdirSync(dir);
  const kube = startFakeKube({ dir, auth });
  kube.tokens.add(TOKEN);
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, kube.kubeconfig({ user: auth === "cert" ? "cert" : { token: TOKEN } }));
  return { dir, kube, kubeconfig };
}

function config(kubeconfig: string | undefined, over: Partial<K8sSecretConfig> = {}): K8sSecretConfig {
  return {
    secretName: "www-tls",
    namespace: "web",
    kubeconfig,
    context: undefined,
    force: true,
    labels: {},
    annotations: {},
    serviceAccountDir: "/nonexistent",
    timeoutSeconds: 5,
    ...over,
  };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const patches = (kube: FakeKube) => kube.requests.filter((r) => r.method === "PATCH");

runInstallContract(
  "k8s-secret",
  true,
  () => {
    const { kube, kubeconfig } = world();
    return {
      backend: createK8sSecretTarget("k8s", config(kubeconfig), { clock: systemClock }),
      damage: () => {
        kube.secret("web", "www-tls")!.data["tls.key"] = b64(generateKeyPem("ecdsa-p256"));
      },
      // The cluster stops accepting rota's token (revoked): every call is a 401.
      breakTarget: () => kube.tokens.clear(),
      mendTarget: () => void kube.tokens.add(TOKEN),
      cleanup: () => kube.stop(),
    };
  },
  { breakable: true },
);

describe("k8s-secret against the fake API server", () => {
  let fx: InstallFixtures;
  let w: ReturnType<typeof world>;
  beforeAll(async () => {
    fx = await makeInstallFixtures(join(root, "ca"));
  });
  afterEach(async () => {
    await w?.kube.stop();
  });

  test("an install is one server-side apply: the manifest as sent, field manager rota, apply-patch+yaml, the token", async () => {
    w = world();
    const target = createK8sSecretTarget("k8s", config(w.kubeconfig, { labels: { team: "web" }, annotations: { owner: "ops" } }), { clock: systemClock });
    await target.install(fx.first, signal);
    const [p, ...more] = patches(w.kube);
    expect(more).toEqual([]);
    expect(p!.path).toBe("/api/v1/namespaces/web/secrets/www-tls");
    expect(p!.query).toEqual({ fieldManager: "rota", force: "true" });
    expect(p!.contentType).toBe("application/apply-patch+yaml");
    expect(p!.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(p!.body)).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "www-tls", namespace: "web", labels: { team: "web", "app.kubernetes.io/managed-by": "rota" }, annotations: { owner: "ops", "rota/cert-id": "www" } },
      type: "kubernetes.io/tls",
      data: { "tls.crt": b64(fx.first.leafPem + fx.first.chainPem), "tls.key": b64(fx.first.privateKeyPem) },
    });
    const s = w.kube.secret("web", "www-tls")!;
    expect(Buffer.from(s.data["tls.crt"]!, "base64").toString()).toBe(fx.first.leafPem + fx.first.chainPem);
  });

  test("labels and annotations rota stopped configuring are removed; the Secret keeps the rest", async () => {
    w = world();
    await createK8sSecretTarget("k8s", config(w.kubeconfig, { labels: { team: "web", tier: "edge" } }), { clock: systemClock }).install(fx.first, signal);
    await createK8sSecretTarget("k8s", config(w.kubeconfig, { labels: { team: "web" } }), { clock: systemClock }).install(fx.first, signal);
    expect(w.kube.secret("web", "www-tls")!.labels).toEqual({ team: "web", "app.kubernetes.io/managed-by": "rota" });
  });

  describe("force", () => {
    const seed = (kube: FakeKube) =>
      kube.seedSecret({ namespace: "web", name: "www-tls", type: "kubernetes.io/tls", data: { "tls.crt": "old crt", "tls.key": "old key", "ca.crt": "their CA" } });

    test("force = false on a kubectl-create Secret: the 409 names the manager and the field, and the Secret is untouched", async () => {
      w = world();
      seed(w.kube);
      const before = structuredClone(w.kube.secret("web", "www-tls")!.data);
      const err = await createK8sSecretTarget("k8s", config(w.kubeconfig, { force: false }), { clock: systemClock }).install(fx.first, signal).catch((e: unknown) => e);
      expect((err as Error).message).toBe("k8s-secret k8s: field manager kubectl-create owns .data.tls.crt, .data.tls.key; set force = true to take the Secret over");
      expect(err).toMatchObject({ code: "conflict", noRetry: true });
      expect(patches(w.kube)[0]!.query).toEqual({ fieldManager: "rota", force: "false" });
      expect(w.kube.secret("web", "www-tls")!.data).toEqual(before);
    });

    test("force = true takes the Secret over and keeps the other manager's extra key", async () => {
      w = world();
      seed(w.kube);
      const target = createK8sSecretTarget("k8s", config(w.kubeconfig, { force: true }), { clock: systemClock });
      await target.install(fx.first, signal);
      const s = w.kube.secret("web", "www-tls")!;
      expect(Buffer.from(s.data["ca.crt"]!, "base64").toString()).toBe("their CA");
      expect(s.owners.get(".data.tls.crt")).toEqual(new Set(["rota"]));
      expect(await target.readBack("www", signal)).toEqual({ state: "present", leafPem: fx.first.leafPem });
    });
  });

  describe("missing RBAC verbs", () => {
    test("no create: the first install gets the 403 with the RBAC hint", async () => {
      w = world();
      w.kube.removeVerb("create");
      const err = await createK8sSecretTarget("k8s", config(w.kubeconfig), { clock: systemClock }).install(fx.first, signal).catch((e: unknown) => e);
      expect((err as Error).message).toBe(
        'k8s-secret k8s: secrets "www-tls" is forbidden: User "system:serviceaccount:web:rota" cannot create resource "secrets" in API group "" in the namespace "web"; ' +
          "rota needs get, create and patch on secrets in web: docs/kubernetes/rbac.yaml",
      );
      expect(w.kube.secret("web", "www-tls")).toBeUndefined();
    });

    test("no get: the read-back throws (never absent), while installs still go through", async () => {
      w = world();
      w.kube.removeVerb("get");
      const target = createK8sSecretTarget("k8s", config(w.kubeconfig), { clock: systemClock });
      await target.install(fx.first, signal);
      const err = await target.readBack("www", signal).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "forbidden" });
      expect((err as Error).message).toStartWith('k8s-secret k8s: secrets "www-tls" is forbidden: User "system:serviceaccount:web:rota" cannot get resource "secrets"');
      expect((err as Error).message).toEndWith("rota needs get, create and patch on secrets in web: docs/kubernetes/rbac.yaml");
    });
  });

  describe("wrong type", () => {
    test("an Opaque Secret: the read-back says it cannot change, and an install gets the API's 422", async () => {
      w = world();
      w.kube.seedSecret({ namespace: "web", name: "www-tls", type: "Opaque", data: { password: "x" } });
      const target = createK8sSecretTarget("k8s", config(w.kubeconfig), { clock: systemClock });
      await expect(target.readBack("www", signal)).rejects.toThrow("k8s-secret k8s: secret web/www-tls has type Opaque, which cannot change; delete it or choose another secret_name");
      const err = await target.install(fx.first, signal).catch((e: unknown) => e);
      expect((err as Error).message).toBe('k8s-secret k8s: Secret "www-tls" is invalid: type: Invalid value: "kubernetes.io/tls": field is immutable (HTTP 422)');
      expect(w.kube.secret("web", "www-tls")!.type).toBe("Opaque");
    });
  });

  test("in-cluster: the service account's token is read at each request, so a rotated token works", async () => {
    w = world();
    const sa = join(w.dir, "sa");
    mkdirSync(sa);
    const env = w.kube.serviceAccount(sa, TOKEN);
    const target = createK8sSecretTarget("k8s", config(undefined, { namespace: undefined, serviceAccountDir: sa }), { clock: systemClock }, { env });
    await target.install(fx.first, signal);
    const rotated = "k8s-rotated-token-77aa";
    w.kube.tokens.delete(TOKEN);
    w.kube.tokens.add(rotated);
    writeFileSync(join(sa, "token"), rotated);
    expect(await target.readBack("www", signal)).toEqual({ state: "present", leafPem: fx.first.leafPem });
    expect(w.kube.requests.map((r) => [r.method, r.path, r.authorization])).toEqual([
      ["PATCH", "/api/v1/namespaces/web/secrets/www-tls", `Bearer ${TOKEN}`],
      ["GET", "/api/v1/namespaces/web/secrets/www-tls", `Bearer ${rotated}`],
    ]);
  });

  test("the Bun CA test: CA data and a client certificate in the kubeconfig work with NODE_EXTRA_CA_CERTS and SSL_CERT_FILE removed", async () => {
    w = world("cert");
    const script = join(w.dir, "apply.ts");
    writeFileSync(
      script,
      `import { createK8sSecretTarget } from ${JSON.stringify(join(import.meta.dir, "k8s-secret.ts"))};
       import { systemClock } from ${JSON.stringify(join(import.meta.dir, "../../../clock.ts"))};
       const req = JSON.parse(await Bun.stdin.text());
       const t = createK8sSecretTarget("k8s", ${JSON.stringify(config(w.kubeconfig))}, { clock: systemClock });
       await t.install(req, new AbortController().signal);
       const r = await t.readBack(req.certId, new AbortController().signal);
       console.log(JSON.stringify({ state: r.state, env: [process.env.NODE_EXTRA_CA_CERTS ?? null, process.env.SSL_CERT_FILE ?? null] }));`,
    );
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.SSL_CERT_FILE;
    const child = Bun.spawn([process.execPath, script], { env, stdin: new Blob([JSON.stringify(fx.first)]), stdout: "pipe", stderr: "pipe" });
    const [out, errText, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect({ code, errText }).toEqual({ code: 0, errText: "" });
    expect(JSON.parse(out)).toEqual({ state: "present", env: [null, null] });
    expect(patches(w.kube).map((r) => r.authorization)).toEqual([null]);
  });

  describe("failures", () => {
    test("a wrong CA fails within timeout_seconds, says where to look, and leaves the Secret untouched", async () => {
      w = world();
      w.kube.seedSecret({ namespace: "web", name: "www-tls", type: "kubernetes.io/tls", data: { "tls.crt": "old", "tls.key": "old" }, manager: "rota" });
      writeFileSync(w.kubeconfig, w.kube.kubeconfig({ user: { token: TOKEN }, ca: w.kube.otherCaPem }));
      const started = performance.now();
      const err = await createK8sSecretTarget("k8s", config(w.kubeconfig, { timeoutSeconds: 2 }), { clock: systemClock }).install(fx.first, signal).catch((e: unknown) => e);
      expect(performance.now() - started).toBeLessThan(2000);
      expect(err).toMatchObject({ code: "unreachable" });
      expect((err as Error).message).toStartWith(`k8s-secret k8s: ${w.kube.url}: `);
      expect((err as Error).message).toContain("check certificate-authority in the kubeconfig");
      expect(w.kube.requests).toEqual([]);
      expect(w.kube.secret("web", "www-tls")!.data["tls.crt"]).toBe(b64("old"));
    });

    test("a stalled API server times out after timeout_seconds", async () => {
      w = world();
      w.kube.stall = true;
      const started = performance.now();
      const err = await createK8sSecretTarget("k8s", config(w.kubeconfig, { timeoutSeconds: 1 }), { clock: systemClock }).install(fx.first, signal).catch((e: unknown) => e);
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
      expect(err).toMatchObject({ code: "timeout", message: `k8s-secret k8s: ${w.kube.url}: no reply in 1 s` });
      w.kube.stall = false;
      expect(w.kube.secret("web", "www-tls")).toBeUndefined();
    });

    test("429 and 503 are retried, honouring Retry-After; a long Retry-After goes to the scheduler", async () => {
      w = world();
      const tooMany = { kind: "Status", status: "Failure", message: "Too many requests, please try again later.", reason: "TooManyRequests", code: 429 };
      w.kube.canned.push({ status: 429, body: tooMany, headers: { "retry-after": "1" } }, { status: 503, body: { kind: "Status", message: "etcd leader changed", code: 503 } });
      const target = createK8sSecretTarget("k8s", config(w.kubeconfig), { clock: systemClock });
      const started = performance.now();
      await target.install(fx.first, signal);
      expect(performance.now() - started).toBeGreaterThanOrEqual(1900);
      expect(patches(w.kube)).toHaveLength(3);

      w.kube.canned.push({ status: 429, body: tooMany, headers: { "retry-after": "120" } });
      const err = await target.readBack("www", signal).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "rate_limited", retryAfterSeconds: 120, message: "k8s-secret k8s: Too many requests, please try again later. (HTTP 429)" });
    });

    test("a cancelled install sends nothing", async () => {
      w = world();
      const ac = new AbortController();
      ac.abort();
      await expect(createK8sSecretTarget("k8s", config(w.kubeconfig), { clock: systemClock }).install(fx.first, ac.signal)).rejects.toMatchObject({ code: "aborted" });
      expect(w.kube.requests).toEqual([]);
    });
  });

  test("the manifest helper is what the fake accepts as a dry run", async () => {
    w = world();
    const body = JSON.stringify(secretManifest({ target: { namespace: "web", name: "www-tls" }, certId: "www", labels: {}, annotations: {}, force: true, certificatesPem: "c", privateKeyPem: "k" }));
    const res = await fetch(`${w.kube.url}/api/v1/namespaces/web/secrets/www-tls?fieldManager=rota&dryRun=All`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/apply-patch+yaml" },
      body,
      tls: { ca: w.kube.caPem },
    } as RequestInit);
    expect(res.status).toBe(200);
    expect(w.kube.secret("web", "www-tls")).toBeUndefined();
  });
});

describe("the fake refuses what an API server refuses (so passing against it means something)", () => {
  let w: ReturnType<typeof world>;
  afterEach(async () => {
    await w?.kube.stop();
  });
  const patch = (query: string, body: unknown, o: { contentType?: string; token?: string } = {}) =>
    fetch(`${w.kube.url}/api/v1/namespaces/web/secrets/www-tls${query}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${o.token ?? TOKEN}`, "content-type": o.contentType ?? "application/apply-patch+yaml" },
      body: JSON.stringify(body),
      tls: { ca: w.kube.caPem },
    } as RequestInit).then(async (r) => [r.status, ((await r.json()) as { message?: string }).message]);
  const manifest = (over: Record<string, unknown> = {}) => ({
    ...secretManifest({ target: { namespace: "web", name: "www-tls" }, certId: "www", labels: {}, annotations: {}, force: true, certificatesPem: "c", privateKeyPem: "k" }),
    ...over,
  });

  test("401, 415, 400 and 422 as the API server words them", async () => {
    w = world();
    expect(await patch("?fieldManager=rota", manifest(), { token: "wrong" })).toEqual([401, "Unauthorized"]);
    expect(await patch("?fieldManager=rota", manifest(), { contentType: "application/merge-patch+json" })).toEqual([
      415,
      "the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml",
    ]);
    expect(await patch("", manifest())).toEqual([400, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch']);
    expect(await patch("?fieldManager=rota", manifest({ metadata: { name: "other", namespace: "web" } }))).toEqual([
      400,
      "the name of the object (other) does not match the name on the URL (www-tls)",
    ]);
    expect(await patch("?fieldManager=rota", manifest({ data: { "tls.crt": "Yw==" } }))).toEqual([422, 'Secret "www-tls" is invalid: [data[tls.key]: Required value]']);
    expect(w.kube.secret("web", "www-tls")).toBeUndefined();
  });
});
