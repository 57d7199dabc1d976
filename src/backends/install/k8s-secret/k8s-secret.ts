/**
 * @module K8sSecretInstall: one certificate as a `kubernetes.io/tls` Secret, written by
 * server-side apply (apply.ts, renewal child) and read back with a plain GET (read.ts,
 * daemon). The connection is resolved per call, so a rotated token, a replaced kubeconfig
 * or a renewed cluster CA is picked up without a restart.
 */
import { describeError, RotaError, throwIfAborted } from "../../../errors.ts";
import type { BackendContext } from "../../context.ts";
import type { Checkable, ReadableInstall } from "../../types.ts";
import { applySecret } from "./apply.ts";
import type { K8sSecretConfig } from "./config.ts";
import { inClusterConnection, loadKubeconfig, type Connection } from "./connection.ts";
import { readSecretCert, type SecretTarget } from "./read.ts";
import { createTransport } from "./transport.ts";

export interface K8sSecretDeps {
  /** Where `KUBERNETES_SERVICE_HOST`/`_PORT` are read in-cluster; the process's by default. */
  env?: Record<string, string | undefined>;
}

export function createK8sSecretTarget(name: string, cfg: K8sSecretConfig, ctx: Pick<BackendContext, "clock">, deps: K8sSecretDeps = {}): ReadableInstall & Checkable {
  const who = `k8s-secret ${name}`;
  const env = deps.env ?? process.env;
  const now = () => ctx.clock.now();

  function connect(): { transport: ReturnType<typeof createTransport>; target: SecretTarget } {
    let conn: Connection;
    try {
      conn = cfg.kubeconfig === undefined ? inClusterConnection(cfg.serviceAccountDir, env) : loadKubeconfig(cfg.kubeconfig, cfg.context);
    } catch (err) {
      throw new RotaError(err instanceof RotaError ? err.code : "k8s_config", `${who}: ${describeError(err)}`, { noRetry: err instanceof RotaError && err.noRetry });
    }
    return {
      transport: createTransport(conn, { who, timeoutMs: cfg.timeoutSeconds * 1000, clock: ctx.clock }),
      target: { namespace: cfg.namespace ?? conn.namespace ?? "default", name: cfg.secretName },
    };
  }

  return {
    name,
    async install(req, signal) {
      throwIfAborted(signal, who);
      const { transport, target } = connect();
      const certificatesPem = withNewline(req.leafPem) + withNewline(req.chainPem);
      await applySecret(
        transport,
        { target, certId: req.certId, labels: cfg.labels, annotations: cfg.annotations, force: cfg.force, certificatesPem, privateKeyPem: req.privateKeyPem },
        { who, now },
        signal,
      );
    },
    async readBack(certId, signal) {
      throwIfAborted(signal, who);
      const { transport, target } = connect();
      return readSecretCert(transport, target, certId, { who, now }, signal);
    },
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkK8sSecret(who, cfg, connect, now, signal, checkCtx);
    },
  } satisfies ReadableInstall & Checkable;
}

function withNewline(pem: string): string {
  return pem === "" || pem.endsWith("\n") ? pem : `${pem}\n`;
}
