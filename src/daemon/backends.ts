/**
 * @module Builds configured backends through the registry. The daemon builds only what
 * it reads between renewals (install targets, DCV backends for journal clean-up); a
 * renewal worker builds what each cert it renews names, and keeps them warm.
 */
import type { BackendContext } from "../backends/context.ts";
import { CA_TYPES, DCV_TYPES, INSTALL_TYPES, type BackendEntry } from "../backends/registry.ts";
import type { CABackend, DcvBackend, InstallBackend } from "../backends/types.ts";
import { withVerifyServed } from "../backends/install/served/verified.ts";
import type { BackendSection, InstallSection, RotaConfig } from "../config/schema.ts";
import { RotaError } from "../errors.ts";
import type { CertSections } from "../pipeline/child-protocol.ts";
import type { CertRuntime, WatchedCert, Watchlist } from "../pipeline/runtime.ts";

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

/** An install target: the type's backend, inside `verify_served` when the section lists endpoints. */
function servedWrap(ctx: BackendContext): (backend: InstallBackend, section: InstallSection) => InstallBackend {
  return (b, s) => (s.verifyServed ? withVerifyServed(b, s.type, s.verifyServed, { clock: ctx.clock }) : b);
}

function buildInstalls(sections: InstallSection[], ctx: BackendContext, previous?: Reusable<InstallBackend, InstallSection>): Promise<Map<string, InstallBackend>> {
  return build<InstallBackend, InstallSection>(sections, INSTALL_TYPES, ctx, previous, servedWrap(ctx));
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
  // Loops and maps rather than a flatMap and a find per cert: a start at 10,000 certs waits for this (issue 11).
  const used = new Set<string>();
  for (const c of config.certs) for (const name of c.install) used.add(name);
  const installs = await buildInstalls(named(config.installs, used), ctx, previous && { sections: previous.config.installs, built: oldInstalls });
  const traits = new Map(config.cas.map((s) => [s.name, caTraits(s)]));
  // One array per distinct list of targets, shared by the certs that name it (most name the same one or two).
  const lists = new Map<string, InstallBackend[]>();
  const certs: WatchedCert[] = [];
  for (const c of config.certs) {
    const key = c.install.length === 1 ? c.install[0]! : c.install.join("\n");
    let targets = lists.get(key);
    if (!targets) lists.set(key, (targets = c.install.map((n) => installs.get(n)!)));
    const watched: WatchedCert = { config: c, installs: targets };
    const t = traits.get(c.ca);
    const implied = t?.implied?.(c.domains);
    if (implied !== undefined && implied.length > 0) watched.impliedNames = implied;
    if (t?.minRenewalSeconds !== undefined) watched.minRenewalSeconds = t.minRenewalSeconds;
    certs.push(watched);
  }
  return { config, certs, dcvs };
}

/** The folders the install targets certs name keep files in: the only ones a folder watch is kept for after a reload. */
export function installFolders(config: RotaConfig): string[] {
  const used = new Set<string>();
  for (const c of config.certs) for (const name of c.install) used.add(name);
  return named(config.installs, used).flatMap((s) => INSTALL_TYPES[s.type]?.keyFolders?.(s.options).map((f) => f.path) ?? []);
}

/** What a CA type tells the scheduler and runner about its certificates. */
interface CaTraits {
  /** The names it adds beyond a cert's `domains` (`CaEntry.impliedNames`). */
  implied?: (domains: readonly string[]) => string[];
  minRenewalSeconds?: number;
}

/**
 * The traits of the `[[ca]]` `section`'s type, read once per section, not once per cert: a
 * start at 10,000 certs waits for the watchlist (issue 11).
 */
function caTraits(section: BackendSection): CaTraits {
  const entry = CA_TYPES[section.type];
  if (!entry) return {};
  return { implied: entry.impliedNames, minRenewalSeconds: entry.minRenewalSeconds?.(section.options) };
}

/** Everything one cert's renewal needs, and nothing for other certs. */
export async function buildRuntime(config: RotaConfig, certId: string, ctx: BackendContext): Promise<CertRuntime> {
  const c = config.certs.find((x) => x.id === certId);
  if (!c) throw new RotaError("unknown_cert", `pipeline: no cert ${JSON.stringify(certId)} in the config`, { noRetry: true });
  const cas = await build(named(config.cas, [c.ca]), CA_TYPES, ctx);
  const dcvs = await build<DcvBackend>(named(config.dcvs, c.dcv === undefined ? [] : [c.dcv]), DCV_TYPES, ctx);
  const installs = await buildInstalls(named(config.installs, c.install), ctx);
  const dcvSection = config.dcvs.find((s) => s.name === c.dcv);
  return {
    config: c,
    ca: cas.get(c.ca)!,
    dcv: c.dcv === undefined ? undefined : dcvs.get(c.dcv),
    ...(dcvSection ? { dcvSection } : {}),
    installs: c.install.map((n) => installs.get(n)!),
  };
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

  /** `cluster`: the request is a cluster-mode run; a CA built for one mode is built anew for the other. */
  async runtime(s: CertSections, cluster = false): Promise<CertRuntime> {
    return {
      config: s.cert,
      ca: await this.warm(this.cas, s.ca, CA_TYPES, undefined, cluster),
      dcv: s.dcv === null ? undefined : await this.warm(this.dcvs, s.dcv, DCV_TYPES),
      ...(s.dcv === null ? {} : { dcvSection: s.dcv }),
      installs: await Promise.all(s.installs.map((i) => this.warm(this.installs, i, INSTALL_TYPES, servedWrap(this.ctx)))),
    };
  }

  private async warm<B, S extends BackendSection>(
    cache: Map<string, Built<B>>,
    s: S,
    types: Record<string, BackendEntry<B>>,
    wrap: (backend: B, section: S) => B = (b) => b,
    cluster = false,
  ): Promise<B> {
    const old = cache.get(s.name);
    // Every key of the section, `verify_served` too.
    if (old && old.cluster === cluster && Bun.deepEquals(old.section, s)) return old.backend;
    // The request came over a pipe: a type this build does not know is its sender's mistake.
    const entry = Object.hasOwn(types, s.type) ? types[s.type]! : undefined;
    if (!entry) throw new RotaError("bad_request", `pipeline: bad renewal request: no backend type ${JSON.stringify(s.type)} for ${JSON.stringify(s.name)}`, { noRetry: true });
    const backend = wrap(await entry.create(s.name, s.options, cluster ? { ...this.ctx, cluster } : this.ctx), s);
    cache.set(s.name, { section: s, backend, cluster });
    return backend;
  }
}

interface Built<B> {
  section: BackendSection;
  backend: B;
  cluster: boolean;
}
