/** @module What a renewal request carries of the config: the cert's own sections, found by the names it gives. */
import type { CertConfig, RotaConfig } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
import type { CertSections } from "./child-protocol.ts";

/**
 * Each config's certs by id, made at its first request: a search of the list for every
 * renewal made a first issuance of 10,000 quadratic (issue 11). A loaded config is never
 * changed in place; a reload makes a new one.
 */
const byId = new WeakMap<readonly CertConfig[], Map<string, CertConfig>>();

/**
 * The `[[cert]]` of `certId` and the CA, DCV and install sections it names, in its order;
 * nothing of other certs, the daemon, the audit store, the listener or alerts.
 */
export function certSections(config: RotaConfig, certId: string): CertSections {
  let certs = byId.get(config.certs);
  if (!certs) byId.set(config.certs, (certs = new Map(config.certs.map((c) => [c.id, c]))));
  const cert = certs.get(certId);
  if (!cert) throw new RotaError("unknown_cert", `pipeline: no cert ${JSON.stringify(certId)} in the config`, { noRetry: true });
  // Validation has checked every name a cert gives against the sections.
  const ca = config.cas.find((s) => s.name === cert.ca)!;
  const dcv = cert.dcv === undefined ? null : config.dcvs.find((s) => s.name === cert.dcv)!;
  const installs = cert.install.map((n) => config.installs.find((s) => s.name === n)!);
  return { cert, ca, dcv, installs };
}

/** The sections as a reload names them (`ca internal`, `install web`): a worker that loaded one is recycled when it changes. */
export function sectionKeys(s: CertSections): string[] {
  return [`ca ${s.ca.name}`, ...(s.dcv ? [`dcv ${s.dcv.name}`] : []), ...s.installs.map((i) => `install ${i.name}`)];
}
