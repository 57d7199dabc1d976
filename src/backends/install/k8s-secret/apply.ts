/**
 * @module The renewal child's write: server-side apply of the TLS Secret through
 * `@kubernetes/client-node`, loaded here and only here with a dynamic import (loading it
 * costs ~21 MB RSS in the compiled binary, so the daemon never does). The client's HTTP goes
 * through transport.ts (`httpApi: wrapHttpLibrary(...)`), its own agent unused.
 * Server-side apply with field manager `rota` keeps other managers' fields, and removes
 * labels and annotations rota applied before and no longer sends
 * (https://kubernetes.io/docs/reference/using-api/server-side-apply/).
 */
import { RotaError } from "../../../errors.ts";
import { CERT_ID_ANNOTATION, MANAGED_BY } from "./config.ts";
import { TLS_SECRET_TYPE, type SecretObject, type SecretTarget } from "./read.ts";
import { apiError, type KubeResponse, type Transport } from "./transport.ts";

export const FIELD_MANAGER = "rota";

export interface ApplyRequest {
  target: SecretTarget;
  certId: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  force: boolean;
  /** Leaf then chain, PEM. */
  certificatesPem: string;
  privateKeyPem: string;
}

/** The apply body, exactly as sent: a JSON document is valid YAML for `application/apply-patch+yaml`. */
export function secretManifest(req: ApplyRequest) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: req.target.name,
      namespace: req.target.namespace,
      labels: { ...req.labels, [MANAGED_BY]: "rota" },
      annotations: { ...req.annotations, [CERT_ID_ANNOTATION]: req.certId },
    },
    type: TLS_SECRET_TYPE,
    data: { "tls.crt": b64(req.certificatesPem), "tls.key": b64(req.privateKeyPem) },
  };
}

export async function applySecret(transport: Transport, req: ApplyRequest, o: { who: string; now: () => Date }, signal: AbortSignal): Promise<void> {
  const k8s = await import("@kubernetes/client-node");
  const server = transport.server;
  // The client keeps only a 401's status code; rota's messages need the Status body of any reply.
  let last: KubeResponse | undefined;
  const httpApi = k8s.wrapHttpLibrary({
    async send(ctx) {
      const url = ctx.getUrl();
      if (!url.startsWith(server)) throw new RotaError("bad_request", `${o.who}: the client asked for ${url}, outside ${server}`);
      const headers = ctx.getHeaders();
      const body = ctx.getBody();
      const res = await transport.send(ctx.getHttpMethod(), url.slice(server.length), { headers, body: typeof body === "string" ? body : undefined }, signal);
      last = res;
      const replyHeaders: Record<string, string> = {};
      res.headers.forEach((v, k) => (replyHeaders[k] = v));
      return new k8s.ResponseContext(res.status, replyHeaders, new k8s.SelfDecodingBody(Promise.resolve(Buffer.from(res.text))));
    },
  });
  const api = new k8s.CoreV1Api(k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(server, {}), httpApi, authMethods: {} }));
  const manifest = secretManifest(req);
  let reply: SecretObject;
  try {
    reply = await api.patchNamespacedSecret(
      { name: req.target.name, namespace: req.target.namespace, body: manifest, fieldManager: FIELD_MANAGER, force: req.force },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply),
    );
  } catch (err) {
    if (err instanceof RotaError) throw err;
    if (err instanceof k8s.ApiException && last !== undefined) throw apiError(o.who, last, req.target, o.now());
    // Only the error's name: a message about a reply could quote it, and a Secret's reply holds its key.
    const status = last === undefined ? "" : `HTTP ${last.status}, `;
    throw new RotaError("install_failed", `${o.who}: applying secret ${req.target.namespace}/${req.target.name}: ${status}the Kubernetes client failed (${(err as Error).name})`);
  }
  if (reply.data?.["tls.crt"] !== manifest.data["tls.crt"]) {
    throw new RotaError("install_failed", `${o.who}: secret ${req.target.namespace}/${req.target.name} was applied, but its tls.crt reads back different from what rota sent (an admission webhook or another controller changed it?)`);
  }
}

function b64(s: string): string {
  return Buffer.from(s, "utf8").toString("base64");
}
