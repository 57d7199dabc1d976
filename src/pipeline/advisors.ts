/**
 * @module The daemon's CA advisors (`CaEntry.advisor`), one per `[[ca]]` section as configured
 * now, kept across renewals (an advisor remembers which certificates its CA answered ARI for)
 * and rebuilt when a reload changes the section. Used from the daemon, never in a worker.
 */
import type { BackendContext } from "../backends/context.ts";
import { CA_TYPES } from "../backends/registry.ts";
import type { CaAdvisor } from "../backends/types.ts";
import type { BackendSection, CertConfig } from "../config/schema.ts";
import { summarizeCert } from "../crypto/summary.ts";
import { describeError } from "../errors.ts";

export class Advisors {
  private readonly built = new Map<string, { key: string; advisor: Promise<CaAdvisor | null> }>();

  constructor(private readonly ctx: BackendContext) {}

  /** Whether `ca`'s type gives advice at all. */
  advises(ca: BackendSection): boolean {
    return CA_TYPES[ca.type]?.advisor !== undefined;
  }

  /** The advisor of `ca`, or null when its type gives no advice. */
  for(ca: BackendSection): Promise<CaAdvisor | null> {
    const key = `${ca.type}\n${JSON.stringify(ca.options)}`;
    const have = this.built.get(ca.name);
    if (have?.key === key) return have.advisor;
    const make = CA_TYPES[ca.type]?.advisor;
    const advisor = make ? make(ca.name, ca.options, this.ctx) : Promise.resolve(null);
    this.built.set(ca.name, { key, advisor });
    return advisor;
  }

  /**
   * Warns about each cert whose CA options its CA would refuse (an ACME profile the directory
   * does not offer), so the operator hears before the renewal fails. Never throws: a CA that
   * cannot be reached now is only a debug line, its renewals will say more.
   */
  async warnAtStart(certs: CertConfig[], cas: BackendSection[], signal: AbortSignal): Promise<void> {
    // Only certs with CA options have anything to check: no promise for each of 10,000 others at a start (issue 11).
    await Promise.all(
      certs.filter((cert) => cert.caOptions !== undefined).map(async (cert) => {
        const ca = cas.find((c) => c.name === cert.ca);
        if (!ca || cert.caOptions === undefined) return;
        try {
          const problem = await (await this.for(ca))?.checkCertOptions(cert.caOptions, signal);
          if (problem) this.ctx.log.warn(`cert ${cert.id}: ${problem}`);
        } catch (err) {
          this.ctx.log.debug(`cert ${cert.id}: cannot check its CA options now: ${describeError(err)}`);
        }
      }),
    );
  }

  /**
   * The certID an order for `domains` replacing `leafPem` sends as `replaces` (RFC 9773 §5), or
   * undefined: no advice, no ARI for that certificate, an order that shares no name with it, or
   * a fault (logged; the order goes without).
   */
  async replacesFor(ca: BackendSection, leafPem: string, domains: readonly string[], signal: AbortSignal): Promise<string | undefined> {
    try {
      if (!sharesName(leafPem, domains)) return undefined;
      return (await (await this.for(ca))?.replaces(leafPem, signal)) ?? undefined;
    } catch (err) {
      this.ctx.log.warn(`ari: ${ca.type} ${ca.name}: cannot tell what the order replaces: ${describeError(err)}`);
      return undefined;
    }
  }
}

/**
 * Whether an order for `domains` may say it replaces the certificate `leafPem`: only when they
 * share a name (RFC 9773 §5). Let's Encrypt refuses `replaces` on an order renamed entirely
 * with `malformed`, which no retry without it would get past: the renewal failed at every try.
 * A wildcard in the certificate covers one label, as TLS matches it.
 */
export function sharesName(leafPem: string, domains: readonly string[]): boolean {
  const names = new Set(summarizeCert(leafPem).names);
  return domains.some((d) => names.has(d) || (!d.startsWith("*.") && d.includes(".") && names.has(`*.${d.slice(d.indexOf(".") + 1)}`)));
}
