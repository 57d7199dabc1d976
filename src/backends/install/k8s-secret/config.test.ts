/** @module The k8s-secret section's own keys: defaults, and each refusal named by its key. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Problems, Reader } from "../../../config/reader.ts";
import { parseK8sSecretConfig, type K8sSecretConfig } from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-k8s-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kubeconfig = (user: Record<string, unknown>) =>
  JSON.stringify({
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443" } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "prod", context: { cluster: "c", user: "u", namespace: "web" } }],
    "current-context": "prod",
  });
writeFileSync(join(dir, "token.kubeconfig"), kubeconfig({ token: "t" }));
writeFileSync(join(dir, "exec.kubeconfig"), kubeconfig({ exec: { command: "aws" } }));

function parse(table: Record<string, unknown>): { cfg: K8sSecretConfig; problems: string[] } {
  const problems = new Problems();
  const r = new Reader(table, "install[2]", { problems, baseDir: dir, env: {} });
  const cfg = parseK8sSecretConfig(r);
  r.finish();
  return { cfg, problems: problems.list };
}

describe("parseK8sSecretConfig", () => {
  test("defaults: in-cluster, force, the standard service account folder, 30 s", () => {
    expect(parse({ secret_name: "www-tls" })).toEqual({
      cfg: {
        secretName: "www-tls",
        namespace: undefined,
        kubeconfig: undefined,
        context: undefined,
        force: true,
        labels: {},
        annotations: {},
        serviceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount",
        timeoutSeconds: 30,
      },
      problems: [],
    });
  });

  test("a kubeconfig relative to the config file, its context, labels and annotations", () => {
    const { cfg, problems } = parse({
      secret_name: "www-tls",
      kubeconfig: "token.kubeconfig",
      context: "prod",
      force: false,
      labels: { team: "web", "example.com/tier": "edge" },
      annotations: { "example.com/note": "renewed by rota, see https://example.com" },
      timeout_seconds: 10,
    });
    expect(problems).toEqual([]);
    expect(cfg).toMatchObject({ kubeconfig: join(dir, "token.kubeconfig"), context: "prod", force: false, timeoutSeconds: 10 });
    expect(cfg.labels).toEqual({ team: "web", "example.com/tier": "edge" });
  });

  test("each refusal names its key", () => {
    expect(
      parse({
        secret_name: "WWW_tls",
        namespace: "Web",
        context: "prod",
        force: "yes",
        labels: { "bad key!": "x", team: "not a value", "app.kubernetes.io/managed-by": "me" },
        annotations: { "rota/cert-id": "www" },
        timeout_seconds: 301,
        extra: 1,
      }).problems,
    ).toEqual([
      `install[2].secret_name: "WWW_tls" is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')`,
      `install[2].namespace: "Web" is not a DNS-1123 label (lower-case letters, digits and '-')`,
      "install[2].context: is only read with kubeconfig; in-cluster there is no context",
      "install[2].labels.bad key!: is not a valid label key: its name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
      `install[2].labels.team: "not a value" is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`,
      "install[2].labels.app.kubernetes.io/managed-by: is set by rota itself",
      "install[2].annotations.rota/cert-id: is set by rota itself",
      "install[2].force: must be true or false, not a string",
      "install[2].timeout_seconds: must be between 1 and 300",
      "install[2].extra: unknown key",
    ]);
  });

  test("a kubeconfig whose user logs in with exec is refused at config time", () => {
    expect(parse({ secret_name: "www-tls", kubeconfig: "exec.kubeconfig" }).problems).toEqual([
      `install[2].kubeconfig: user "u" authenticates with exec; rota supports client certificates and tokens`,
    ]);
  });

  test("a missing kubeconfig, and secret_name missing", () => {
    expect(parse({ kubeconfig: "nope" }).problems).toEqual([
      "install[2].secret_name: is required",
      `install[2].kubeconfig: ${join(dir, "nope")} does not exist`,
    ]);
  });
});
