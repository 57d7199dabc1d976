/**
 * @module The daemon's read of the Secret (`GET /api/v1/namespaces/{ns}/secrets/{name}`)
 * through transport.ts alone: the Kubernetes client is never loaded for it, so an idle
 * daemon with a k8s target stays small (apply.ts, in the renewal child, loads it).
 */
import { createPublicKey, X509Certificate } from "node:crypto";
import { RotaError } from "../../../errors.ts";
import type { ReadBack } from "../../types.ts";
import { CERT_ID_ANNOTATION } from "./config.ts";
import { apiError, type Transport } from "./transport.ts";

export const TLS_SECRET_TYPE = "kubernetes.io/tls";

export interface SecretTarget {
  namespace: string;
  name: string;
}

/** The parts of a Secret rota reads. */
export interface SecretObject {
  type?: string;
  metadata?: { annotations?: Record<string, string> };
  data?: Record<string, string>;
}

export function secretPath(t: SecretTarget): string {
  return `/api/v1/namespaces/${encodeURIComponent(t.namespace)}/secrets/${encodeURIComponent(t.name)}`;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/;

/** The message for a Secret of another type, which the API server never lets change. */
export function wrongTypeMessage(t: SecretTarget, type: string): string {
  return `secret ${t.namespace}/${t.name} has type ${type}, which cannot change; delete it or choose another secret_name`;
}

/**
 * What the Secret holds for `certId`: absent when there is no Secret, no `tls.crt`, or the
 * Secret is annotated for another cert id; damaged when `tls.crt` holds no certificate or
 * `tls.key` does not match it; throws (never absent) when the API refuses or the Secret has
 * another type, since installing over it would fail the same way.
 */
export async function readSecretCert(transport: Transport, t: SecretTarget, certId: string, o: { who: string; now: () => Date }, signal: AbortSignal): Promise<ReadBack> {
  const res = await transport.send("GET", secretPath(t), {}, signal);
  if (res.status === 404) return { state: "absent" };
  if (res.status !== 200) throw apiError(o.who, res, t, o.now());
  let secret: SecretObject;
  try {
    secret = JSON.parse(res.text) as SecretObject;
  } catch (err) {
    throw new RotaError("bad_reply", `${o.who}: the API server's reply for secret ${t.namespace}/${t.name} is not JSON`, { cause: err });
  }
  const type = secret.type ?? "Opaque";
  if (type !== TLS_SECRET_TYPE) throw new RotaError("wrong_type", `${o.who}: ${wrongTypeMessage(t, type)}`, { noRetry: true });
  const holder = secret.metadata?.annotations?.[CERT_ID_ANNOTATION];
  if (holder !== undefined && holder !== certId) return { state: "absent" };
  const crt = decode(secret.data?.["tls.crt"]);
  if (crt === "") return { state: "absent" };
  const leafPem = PEM_CERTIFICATE.exec(crt)?.[0];
  if (leafPem === undefined) return { state: "damaged", reason: "tls.crt holds no PEM certificate" };
  const key = decode(secret.data?.["tls.key"]);
  if (key === "") return { state: "damaged", reason: "tls.key is missing or empty" };
  if (!keyMatches(leafPem, key)) return { state: "damaged", reason: "tls.key does not match the certificate in tls.crt" };
  return { state: "present", leafPem: `${leafPem}\n` };
}

function decode(b64: string | undefined): string {
  return b64 ? Buffer.from(b64, "base64").toString("utf8") : "";
}

function keyMatches(leafPem: string, keyPem: string): boolean {
  try {
    const spki = (k: { export(o: { type: "spki"; format: "der" }): Buffer }) => k.export({ type: "spki", format: "der" });
    return spki(new X509Certificate(leafPem).publicKey).equals(spki(createPublicKey(keyPem)));
  } catch {
    return false;
  }
}
