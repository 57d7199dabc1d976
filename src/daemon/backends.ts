/**
 * @module Builds configured backends through the registry. The daemon builds only what
 * it reads between renewals (install targets, DCV backends for journal clean-up); a
 * renewal child builds the full set for its one cert.
 */
import type { BackendContext } from "../backends/context.ts";
import { CA_TYPES, DCV_TYPES, INSTALL_TYPES, type BackendEntry } from "../backends/registry.ts";
import type { DcvBackend, InstallBackend } from "../backends/types.ts";
import { withVerifyServed } from "../backends/install/served/verified.ts";
import type { BackendSection, InstallSection, RotaConfig } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
import type { CertRuntime, Watchlist } from "../pipeline/runtime.ts";

/**
 * A section unchanged since `previous` (every key, `verify_served` too) keeps its backend
 * instance (and whatever it holds open). `wrap` adds what the section's common keys ask for.
 */
async function build<B, S extends BackendSection = BackendSection>(
  sections: S[],
  types: Record<string, BackendEntry<B>>,
  ctx: BackendContext,
  previous?: Reusable<B, S>,
  wrap: (backend: B, section: S) => B = (b) => b,
): Promise<Map<string, B>> {
  const out = new Map<string, B>();
  for (const s of sections) {
    const old = previous?.sections.find((p) => p.name === s.name);
    const kept = old && Bun.deepEquals(old, s) ? previous?.built.get(s.name) : undefined;
    // Validation has checked every type against the same table.
    out.set(s.name, kept ?? wrap(await types[s.type]!.create(s.name, s.options, ctx), s));
  }
  return out;
}

/** Install targets: the type's backend, inside `verify_served` when the section lists endpoints. */
function buildInstalls(sections: InstallSection[], ctx: BackendContext, previous?: Reusable<InstallBackend, InstallSection>): Promise<Map<string, InstallBackend>> {
  return build<InstallBackend, InstallSection>(sections, INSTALL_TYPES, ctx, previous, (b, s) => (s.verifyServed ? withVerifyServed(b, s.verifyServed, { clock: ctx.clock }) : b));
}

interface Reusable<B, S extends BackendSection = BackendSection> {
  sections: S[];
  built: Map<string, B>;
}

function named<S extends BackendSection>(sections: S[], names: Iterable<string>): S[] {
  const wanted = new Set(names);
  return sections.filter((s) => wanted.has(s.name));
}

/**
 * The daemon's watchlist for `config`: every DCV backend and the install targets certs
 * name. Given the watchlist it replaces, unchanged sections keep their instances.
 */
export async function buildWatchlist(config: RotaConfig, ctx: BackendContext, previous?: Watchlist): Promise<Watchlist> {
  const dcvs = await build<DcvBackend>(config.dcvs, DCV_TYPES, ctx, previous && { sections: previous.config.dcvs, built: previous.dcvs });
  const oldInstalls = new Map(previous?.certs.flatMap((c) => c.installs.map((i) => [i.name, i] as const)) ?? []);
  const installs = await buildInstalls(named(config.installs, config.certs.flatMap((c) => c.install)), ctx, previous && { sections: previous.config.installs, built: oldInstalls });
  const certs = config.certs.map((c) => ({ config: c, installs: c.install.map((n) => installs.get(n)!) }));
  return { config, certs, dcvs };
}

/** Everything one cert's renewal needs, and nothing for other certs. */
export async function buildRuntime(config: RotaConfig, certId: string, ctx: BackendContext): Promise<CertRuntime> {
  const c = config.certs.find((x) => x.id === certId);
  if (!c) throw new RotaError("unknown_cert", `pipeline: no cert ${JSON.stringify(certId)} in the config`, { noRetry: true });
  const cas = await build(named(config.cas, [c.ca]), CA_TYPES, ctx);
  const dcvs = await build<DcvBackend>(named(config.dcvs, c.dcv === undefined ? [] : [c.dcv]), DCV_TYPES, ctx);
  const installs = await buildInstalls(named(config.installs, c.install), ctx);
  return { config: c, ca: cas.get(c.ca)!, dcv: c.dcv === undefined ? undefined : dcvs.get(c.dcv), installs: c.install.map((n) => installs.get(n)!) };
}
