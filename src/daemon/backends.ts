/** @module Builds every configured backend through the registry and ties each cert to its own. */
import type { BackendContext } from "../backends/context.ts";
import { CA_TYPES, DCV_TYPES, INSTALL_TYPES, type BackendEntry } from "../backends/registry.ts";
import type { CABackend, DcvBackend, InstallBackend } from "../backends/types.ts";
import type { BackendSection, RotaConfig } from "../config/schema.ts";
import type { CertRuntime } from "../pipeline/runtime.ts";

export interface Backends {
  certs: CertRuntime[];
  dcvs: Map<string, DcvBackend>;
}

async function build<B>(sections: BackendSection[], types: Record<string, BackendEntry<B>>, ctx: BackendContext): Promise<Map<string, B>> {
  const out = new Map<string, B>();
  for (const s of sections) {
    // Validation has checked every type against the same table.
    out.set(s.name, await types[s.type]!.create(s.name, s.options, ctx));
  }
  return out;
}

export async function buildBackends(config: RotaConfig, ctx: BackendContext): Promise<Backends> {
  const used = (names: Set<string>, sections: BackendSection[]) => sections.filter((s) => names.has(s.name));
  const cas = await build<CABackend>(used(new Set(config.certs.map((c) => c.ca)), config.cas), CA_TYPES, ctx);
  // Every dcv is built, used or not, so challenges journaled under a name still in the config can be removed.
  const dcvs = await build<DcvBackend>(config.dcvs, DCV_TYPES, ctx);
  const installs = await build<InstallBackend>(used(new Set(config.certs.flatMap((c) => c.install)), config.installs), INSTALL_TYPES, ctx);
  const certs = config.certs.map((c) => ({
    config: c,
    ca: cas.get(c.ca)!,
    dcv: c.dcv === undefined ? undefined : dcvs.get(c.dcv),
    installs: c.install.map((n) => installs.get(n)!),
  }));
  return { certs, dcvs };
}
