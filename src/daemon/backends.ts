/**
 * @module Builds configured backends through the registry. The daemon builds only what
 * it reads between renewals (install targets, DCV backends for journal clean-up); a
 * renewal worker builds what each cert it renews names, and keeps them warm.
 */
import type { BackendContext } from "../backends/context.ts";
import { CA_TYPES, DCV_TYPES, INSTALL_TYPES, type BackendEntry } from "../backends/registry.ts";
import type { CABackend, DcvBackend, InstallBackend } from "../backends/types.ts";
import type { BackendSection, RotaConfig } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
import type { CertSections } from "../pipeline/child-protocol.ts";
import type { CertRuntime, Watchlist } from "../pipeline/runtime.ts";

/** A section unchanged since `previous` keeps its backend instance (and whatever it holds open). */
async function build<B>(sections: BackendSection[], types: Record<string, BackendEntry<B>>, ctx: BackendContext, previous?: Reusable<B>): Promise<Map<string, B>> {
  const out = new Map<string, B>();
  for (const s of sections) {
    const old = previous?.sections.find((p) => p.name === s.name);
    const kept = old && old.type === s.type && Bun.deepEquals(old.options, s.options) ? previous?.built.get(s.name) : undefined;
    // Validation has checked every type against the same table.
    out.set(s.name, kept ?? (await types[s.type]!.create(s.name, s.options, ctx)));
  }
  return out;
}

interface Reusable<B> {
  sections: BackendSection[];
  built: Map<string, B>;
}

function named(sections: BackendSection[], names: Iterable<string>): BackendSection[] {
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
  const installs = await build<InstallBackend>(named(config.installs, config.certs.flatMap((c) => c.install)), INSTALL_TYPES, ctx, previous && { sections: previous.config.installs, built: oldInstalls });
  const certs = config.certs.map((c) => ({ config: c, installs: c.install.map((n) => installs.get(n)!) }));
  return { config, certs, dcvs };
}

/** Everything one cert's renewal needs, and nothing for other certs. */
export async function buildRuntime(config: RotaConfig, certId: string, ctx: BackendContext): Promise<CertRuntime> {
  const c = config.certs.find((x) => x.id === certId);
  if (!c) throw new RotaError("unknown_cert", `pipeline: no cert ${JSON.stringify(certId)} in the config`, { noRetry: true });
  const cas = await build(named(config.cas, [c.ca]), CA_TYPES, ctx);
  const dcvs = await build<DcvBackend>(named(config.dcvs, c.dcv === undefined ? [] : [c.dcv]), DCV_TYPES, ctx);
  const installs = await build<InstallBackend>(named(config.installs, c.install), INSTALL_TYPES, ctx);
  return { config: c, ca: cas.get(c.ca)!, dcv: c.dcv === undefined ? undefined : dcvs.get(c.dcv), installs: c.install.map((n) => installs.get(n)!) };
}

/**
 * The backends one renewal worker has built, kept across its renewals: a local CA's root
 * and intermediate are loaded and checked once, an ACME account and directory found once
 * per CA. A section that comes back changed (same name, other type or options) is built anew.
 */
export class WarmBackends {
  private readonly cas = new Map<string, Built<CABackend>>();
  private readonly dcvs = new Map<string, Built<DcvBackend>>();
  private readonly installs = new Map<string, Built<InstallBackend>>();

  constructor(private readonly ctx: BackendContext) {}

  async runtime(s: CertSections): Promise<CertRuntime> {
    return {
      config: s.cert,
      ca: await this.warm(this.cas, s.ca, CA_TYPES),
      dcv: s.dcv === null ? undefined : await this.warm(this.dcvs, s.dcv, DCV_TYPES),
      installs: await Promise.all(s.installs.map((i) => this.warm(this.installs, i, INSTALL_TYPES))),
    };
  }

  private async warm<B>(cache: Map<string, Built<B>>, s: BackendSection, types: Record<string, BackendEntry<B>>): Promise<B> {
    const old = cache.get(s.name);
    if (old && old.section.type === s.type && Bun.deepEquals(old.section.options, s.options)) return old.backend;
    // The request came over a pipe: a type this build does not know is its sender's mistake.
    const entry = Object.hasOwn(types, s.type) ? types[s.type]! : undefined;
    if (!entry) throw new RotaError("bad_request", `pipeline: bad renewal request: no backend type ${JSON.stringify(s.type)} for ${JSON.stringify(s.name)}`, { noRetry: true });
    const backend = await entry.create(s.name, s.options, this.ctx);
    cache.set(s.name, { section: s, backend });
    return backend;
  }
}

interface Built<B> {
  section: BackendSection;
  backend: B;
}
