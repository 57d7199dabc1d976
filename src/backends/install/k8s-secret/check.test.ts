/** @module The k8s-secret doctor check against the fake API server: a GET and a dryRun=All apply, nothing persisted. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeKube } from "../../../../test/fakes/kube-apiserver.ts";
import { systemClock } from "../../../clock.ts";
import type { CheckContext } from "../../types.ts";
import type { K8sSecretConfig } from "./config.ts";
import { createK8sSecretTarget } from "./k8s-secret.ts";

const TOKEN = "k8s-check-token-canary-91b3";
const dir = mkdtempSync(join(tmpdir(), "rota-k8s-check-"));
const kube = startFakeKube({ dir });
kube.tokens.add(TOKEN);
const kubeconfig = join(dir, "kubeconfig");
writeFileSync(kubeconfig, kube.kubeconfig({ user: { token: TOKEN } }));
afterAll(async () => {
  await kube.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ctx: CheckContext = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
const signal = new AbortController().signal;
const cfg = (over: Partial<K8sSecretConfig> = {}): K8sSecretConfig => ({
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
});
const target = (over: Partial<K8sSecretConfig> = {}) => createK8sSecretTarget("k8s", cfg(over), { clock: systemClock });

test("a Secret not there yet: the GET says so, the dry-run apply is accepted, nothing is created", async () => {
  kube.requests.length = 0;
  expect(await target().check(signal, ctx)).toEqual([
    { status: "ok", message: "secret web/www-tls does not exist yet: the first install creates it" },
    { status: "ok", message: "a server-side apply of secret web/www-tls would be accepted (dryRun=All)" },
  ]);
  expect(kube.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /api/v1/namespaces/web/secrets/www-tls", "PATCH /api/v1/namespaces/web/secrets/www-tls"]);
  const patch = kube.requests[1]!;
  expect(patch.query).toEqual({ fieldManager: "rota", dryRun: "All", force: "true" });
  expect(patch.contentType).toBe("application/apply-patch+yaml");
  expect(JSON.parse(patch.body).data).toEqual({ "tls.crt": "", "tls.key": "" });
  expect(kube.secret("web", "www-tls")).toBeUndefined();
});

test("RBAC without patch: the dry run is refused, the fix named", async () => {
  kube.removeVerb("patch");
  try {
    const [seen, applied] = await target().check(signal, ctx);
    expect(seen!.status).toBe("ok");
    expect(applied!.status).toBe("fail");
    expect(applied!.message).toContain("cannot patch resource \"secrets\"");
    expect(applied!.hint).toBe("rota needs get, create and patch on this secret: docs/kubernetes/rbac.yaml");
  } finally {
    kube.restoreVerbs();
  }
});

test("a token the cluster refuses: one FAIL, the token never shown", async () => {
  kube.tokens.delete(TOKEN);
  try {
    const results = await target().check(signal, ctx);
    expect(results).toHaveLength(1);
    expect(results[0]!.status).toBe("fail");
    expect(results[0]!.message).toContain("HTTP 401");
    expect(JSON.stringify(results)).not.toContain(TOKEN);
  } finally {
    kube.tokens.add(TOKEN);
  }
});

test("offline: nothing sent", async () => {
  kube.requests.length = 0;
  expect(await target().check(signal, { ...ctx, offline: true })).toEqual([{ status: "skip", message: "offline: the API server not contacted" }]);
  expect(kube.requests).toEqual([]);
});

test("a Secret of another type cannot become a TLS one", async () => {
  // Last: the fake keeps the Secret, and its type never changes.
  kube.seedSecret({ namespace: "web", name: "www-tls", type: "Opaque", data: {} });
  const [only, ...rest] = await target().check(signal, ctx);
  expect(rest).toEqual([]);
  expect(only).toEqual({ status: "fail", message: "k8s-secret k8s: secret web/www-tls has type Opaque, which cannot change; delete it or choose another secret_name" });
});
