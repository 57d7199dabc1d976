/** @module Config keys of an `[[install]] type = "k8s-secret"` section. */
import { cut, quote, type Reader } from "../../../config/reader.ts";
import { loadKubeconfig } from "./connection.ts";

export interface K8sSecretConfig {
  secretName: string;
  /** Undefined: the service account's namespace in-cluster, else the context's, else "default". */
  namespace: string | undefined;
  /** Undefined: in-cluster, through `serviceAccountDir` and `KUBERNETES_SERVICE_HOST`/`_PORT`. */
  kubeconfig: string | undefined;
  /** Only with `kubeconfig`; undefined: its `current-context`. */
  context: string | undefined;
  /**
   * Server-side apply `force`: take fields another field manager owns (default true: the
   * Secret is rota's by config; false refuses a Secret someone else filled, naming them).
   */
  force: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccountDir: string;
  timeoutSeconds: number;
}

export const DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The label rota sets on every Secret it applies. */
export const MANAGED_BY = "app.kubernetes.io/managed-by";
/** The annotation naming the cert id the Secret holds, so a read-back for another id answers absent. */
export const CERT_ID_ANNOTATION = "rota/cert-id";

// https://kubernetes.io/docs/concepts/overview/working-with-objects/names/
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function parseK8sSecretConfig(r: Reader): K8sSecretConfig {
  const secretName = r.string("secret_name", { required: true, pattern: DNS1123_SUBDOMAIN, patternHint: "is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')", maxLength: 253 });
  const namespace = r.string("namespace", { pattern: DNS1123_LABEL, patternHint: "is not a DNS-1123 label (lower-case letters, digits and '-')", maxLength: 63 });
  const before = r.ctx.problems.list.length;
  const kubeconfig = r.path("kubeconfig", { mustRead: true });
  const readable = r.ctx.problems.list.length === before;
  const context = r.string("context");
  if (context !== undefined && !r.has("kubeconfig")) r.problem("context", "is only read with kubeconfig; in-cluster there is no context");
  if (kubeconfig !== undefined && readable) {
    try {
      loadKubeconfig(kubeconfig, context);
    } catch (err) {
      r.problem("kubeconfig", (err as Error).message);
    }
  }
  const labels = readStringTable(r.child("labels"), "label");
  if (labels[MANAGED_BY] !== undefined) r.problem(`labels.${MANAGED_BY}`, "is set by rota itself");
  const annotations = readStringTable(r.child("annotations"), "annotation");
  if (annotations[CERT_ID_ANNOTATION] !== undefined) r.problem(`annotations.${CERT_ID_ANNOTATION}`, "is set by rota itself");
  return {
    secretName: secretName ?? "",
    namespace,
    kubeconfig,
    context,
    force: r.bool("force", true),
    labels,
    annotations,
    serviceAccountDir: r.path("service_account_dir") ?? DEFAULT_SERVICE_ACCOUNT_DIR,
    timeoutSeconds: r.int("timeout_seconds", { min: 1, max: 300, fallback: 30 }),
  };
}

/** `labels` or `annotations`: keys `[prefix/]name`; label values are 63 characters of the name syntax, annotation values any string. */
function readStringTable(r: Reader, what: "label" | "annotation"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of r.keys()) {
    const value = r.string(key);
    const bad = badKey(key);
    if (bad) {
      r.problem(cut(key), `is not a valid ${what} key: ${bad}`);
      continue;
    }
    if (value === undefined) continue;
    if (what === "label" && (value.length > 63 || !LABEL_VALUE.test(value))) {
      r.problem(key, `${quote(value)} is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`);
      continue;
    }
    out[key] = value;
  }
  return out;
}

function badKey(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return "its prefix must be a DNS-1123 subdomain";
  if (name.length > 63 || !QUALIFIED_NAME.test(name)) return "its name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  return undefined;
}
