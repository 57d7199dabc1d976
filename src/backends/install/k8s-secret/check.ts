/**
 * @module The k8s-secret target's self-check (`rota doctor`): a GET of the Secret, then a
 * server-side apply with `dryRun=All` of what an install would send, its certificate and key
 * left empty (the API server validates and authorizes it, and persists nothing). Sent through
 * transport.ts: the Kubernetes client is not loaded for it.
 */
import { describeError } from "../../../errors.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import { FIELD_MANAGER, secretManifest } from "./apply.ts";
import type { K8sSecretConfig } from "./config.ts";
import { secretPath, TLS_SECRET_TYPE, wrongTypeMessage, type SecretObject, type SecretTarget } from "./read.ts";
import { apiError, type Transport } from "./transport.ts";

export async function checkK8sSecret(who: string, cfg: K8sSecretConfig, connect: () => { transport: Transport; target: SecretTarget }, now: () => Date, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  if (ctx.offline) return [{ status: "skip", message: "offline: the API server not contacted" }];
  const rbac = "rota needs get, create and patch on this secret: docs/kubernetes/rbac.yaml";
  try {
    const { transport, target } = connect();
    const where = `secret ${target.namespace}/${target.name}`;
    const got = await transport.send("GET", secretPath(target), {}, signal);
    let seen: CheckResult;
    if (got.status === 404) seen = { status: "ok", message: `${where} does not exist yet: the first install creates it` };
    else if (got.status !== 200) return [{ status: "fail", message: apiError(who, got, target, now()).message, hint: rbac }];
    else {
      const type = (JSON.parse(got.text) as SecretObject).type ?? "Opaque";
      if (type !== TLS_SECRET_TYPE) return [{ status: "fail", message: `${who}: ${wrongTypeMessage(target, type)}` }];
      seen = { status: "ok", message: `${where} readable (${TLS_SECRET_TYPE})` };
    }
    const manifest = secretManifest({ target, certId: "", labels: cfg.labels, annotations: cfg.annotations, force: cfg.force, certificatesPem: "", privateKeyPem: "" });
    const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, dryRun: "All", ...(cfg.force && { force: "true" }) });
    const applied = await transport.send("PATCH", `${secretPath(target)}?${query}`, { headers: { "content-type": "application/apply-patch+yaml" }, body: JSON.stringify(manifest) }, signal);
    if (applied.status !== 200 && applied.status !== 201) return [seen, { status: "fail", message: `dry-run apply refused: ${apiError(who, applied, target, now()).message}`, hint: rbac }];
    return [seen, { status: "ok", message: `a server-side apply of ${where} would be accepted (dryRun=All)` }];
  } catch (err) {
    return [{ status: "fail", message: describeError(err) }];
  }
}
