/** @module Kubeconfig and in-cluster connections: what is read, from where, and what is refused with which words. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inClusterConnection, loadKubeconfig } from "./connection.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-k8s-conn-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, "pki"));
writeFileSync(join(dir, "pki", "ca.crt"), "CA PEM");
writeFileSync(join(dir, "pki", "rota.crt"), "CLIENT CERT PEM");
writeFileSync(join(dir, "pki", "rota.key"), "CLIENT KEY PEM");
writeFileSync(join(dir, "pki", "token"), "file-token\n");

let n = 0;
function kubeconfig(doc: Record<string, unknown>, yaml?: string): string {
  const path = join(dir, `kc${++n}`);
  writeFileSync(path, yaml ?? JSON.stringify(doc));
  return path;
}
const base = (cluster: Record<string, unknown>, user: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Config",
  clusters: [{ name: "prod", cluster: { server: "https://10.0.0.1:6443/", ...cluster } }],
  users: [{ name: "rota", user }],
  contexts: [
    { name: "prod", context: { cluster: "prod", user: "rota", namespace: "web" } },
    { name: "other", context: { cluster: "prod", user: "rota" } },
  ],
  "current-context": "prod",
  ...extra,
});

describe("loadKubeconfig", () => {
  test("YAML with files relative to its folder: CA, client certificate and key, the context's namespace", () => {
    const path = kubeconfig(
      {},
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "  - name: prod",
        "    cluster:",
        "      server: https://kube.example.com:6443",
        "      certificate-authority: pki/ca.crt",
        "      tls-server-name: kubernetes.default.svc",
        "users:",
        "  - name: rota",
        "    user:",
        "      client-certificate: pki/rota.crt",
        "      client-key: pki/rota.key",
        "contexts:",
        "  - name: prod",
        "    context: {cluster: prod, user: rota, namespace: web}",
        "current-context: prod",
      ].join("\n"),
    );
    const c = loadKubeconfig(path, undefined);
    expect({ ...c, token: c.token }).toEqual({
      server: "https://kube.example.com:6443",
      ca: "CA PEM",
      cert: "CLIENT CERT PEM",
      key: "CLIENT KEY PEM",
      serverName: "kubernetes.default.svc",
      insecureSkipVerify: false,
      token: undefined,
      namespace: "web",
    });
  });

  test("-data forms, a token file read at each call, and another context without a namespace", () => {
    const path = kubeconfig(base({ "certificate-authority-data": Buffer.from("DATA CA").toString("base64"), "insecure-skip-tls-verify": true }, { tokenFile: "pki/token" }));
    const c = loadKubeconfig(path, "other");
    expect(c).toMatchObject({ server: "https://10.0.0.1:6443", ca: "DATA CA", insecureSkipVerify: true, namespace: undefined });
    expect(c.token?.()).toBe("file-token");
    writeFileSync(join(dir, "pki", "token"), "rotated\n");
    expect(c.token?.()).toBe("rotated");
  });

  test.each([
    [{ exec: { command: "aws", args: ["eks", "get-token"] } }, `user "rota" authenticates with exec; rota supports client certificates and tokens`],
    [{ "auth-provider": { name: "gcp" } }, `user "rota" authenticates with auth-provider; rota supports client certificates and tokens`],
    [{ username: "admin", password: "secret-pw" }, `user "rota" authenticates with basic auth; rota supports client certificates and tokens`],
    [{ "client-certificate": "pki/rota.crt" }, `user "rota" gives a client certificate without its key, or a key without its certificate`],
    [{}, `user "rota" has neither a client certificate nor a token`],
  ])("user %j is refused", (user, message) => {
    expect(() => loadKubeconfig(kubeconfig(base({}, user)), undefined)).toThrow(message);
  });

  test("proxy-url, a plain-http server, an unknown context and no current-context are refused; no secret in any message", () => {
    expect(() => loadKubeconfig(kubeconfig(base({ "proxy-url": "http://proxy:3128" }, { token: "tok-123" })), undefined)).toThrow(
      `cluster "prod" sets proxy-url; rota connects to the API server directly`,
    );
    expect(() => loadKubeconfig(kubeconfig(base({ server: "http://10.0.0.1:8080" }, { token: "tok-123" })), undefined)).toThrow(
      `cluster "prod" server http://10.0.0.1:8080 is not https: rota sends a Secret's private key to it`,
    );
    const path = kubeconfig(base({}, { token: "tok-123" }));
    expect(() => loadKubeconfig(path, "staging")).toThrow(`${path} has no context "staging"`);
    expect(() => loadKubeconfig(kubeconfig(base({}, { token: "tok-123" }, { "current-context": "" })), undefined)).toThrow("has no current-context: set context");
  });
});

describe("inClusterConnection", () => {
  test("the service account folder and KUBERNETES_SERVICE_HOST/PORT (IPv6 in brackets); the token re-read each time", () => {
    const sa = join(dir, "sa");
    mkdirSync(sa);
    writeFileSync(join(sa, "token"), "t1");
    writeFileSync(join(sa, "ca.crt"), "SA CA");
    writeFileSync(join(sa, "namespace"), "web\n");
    const c = inClusterConnection(sa, { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" });
    expect(c).toMatchObject({ server: "https://[fd00::1]:443", ca: "SA CA", namespace: "web", cert: undefined });
    expect(c.token?.()).toBe("t1");
    writeFileSync(join(sa, "token"), "t2");
    expect(c.token?.()).toBe("t2");
  });

  test("outside a pod it says to set kubeconfig, and never falls back to KUBECONFIG or ~/.kube/config", () => {
    const kc = kubeconfig(base({}, { token: "tok" }));
    expect(() => inClusterConnection(join(dir, "sa"), { KUBECONFIG: kc, HOME: dir })).toThrow(
      "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set, so rota is not running in a pod: set kubeconfig",
    );
  });
});
