/**
 * @module The daemon's CA advisors (`CaEntry.advisor`), one per `[[ca]]` section as configured
 * now, kept across renewals (an advisor remembers which certificates its CA answered ARI for)
 * and rebuilt when a reload changes the section. Used from the daemon, never in a worker.
 */
import type { BackendContext } from "../backends/context.ts";
import { CA_TYPES } from "../backends/registry.ts";
import type { CaAdvisor } from "../backends/types.ts";
import type { BackendSection } from "../config/schema.ts";
import { describeError } from "../errors.ts";

export class Advisors {
  private readonly built = new Map<string, { key: string; advisor: Promise<CaAdvisor | null> }>();

  constructor(private readonly ctx: BackendContext) {}

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
   * The certID an order replacing `leafPem` sends as `replaces` (RFC 9773 §5), or undefined:
   * no advice, no ARI for that certificate, or a fault (logged; the order goes without).
   */
  async replacesFor(ca: BackendSection, leafPem: string, signal: AbortSignal): Promise<string | undefined> {
    try {
      return (await (await this.for(ca))?.replaces(leafPem, signal)) ?? undefined;
    } catch (err) {
      this.ctx.log.warn(`ari: ${ca.type} ${ca.name}: cannot tell what the order replaces: ${describeError(err)}`);
      return undefined;
    }
  }
}
