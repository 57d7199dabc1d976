/**
 * @module The per-backend checks (`ca:NAME`, `dcv:NAME`, `install:NAME`, `alert:NAME`): each
 * section is built as the daemon builds it and asked its own `check` (the `Checkable`
 * capability), bounded in time. Building may fail (an unreadable `ca_bundle`): that is the
 * finding. A type without a check says so as `skip`.
 */
import { ALERT_TYPES, CA_TYPES, DCV_TYPES, INSTALL_TYPES, type BackendEntry } from "../backends/registry.ts";
import type { BackendContext } from "../backends/context.ts";
import { isCheckable, type CheckContext } from "../backends/types.ts";
import { systemClock } from "../clock.ts";
import type { BackendSection, RotaConfig } from "../config/schema.ts";
import { describeError } from "../errors.ts";
import { createLogger } from "../log.ts";
import type { Finding } from "./report.ts";

/** Longer than any one check's own bound (an ACME directory GET has 10 s), short enough for a person waiting. */
const CHECK_TIMEOUT_MS = 30_000;

export type Surface = "ca" | "dcv" | "install" | "alert";

const TYPES: Record<Surface, Record<string, BackendEntry<unknown>>> = { ca: CA_TYPES, dcv: DCV_TYPES, install: INSTALL_TYPES, alert: ALERT_TYPES };

/** The sections to check, in the order: CAs, DCVs, installs, alerts, each in config order; narrowed to the certs in `certIds`. */
export function sectionsToCheck(config: RotaConfig, certIds: ReadonlySet<string>, narrowed: boolean): { surface: Surface; section: BackendSection }[] {
  const certs = config.certs.filter((c) => certIds.has(c.id));
  const used = (surface: Surface, name: string) =>
    !narrowed || surface === "alert" || certs.some((c) => (surface === "ca" ? c.ca === name : surface === "dcv" ? c.dcv === name : c.install.includes(name)));
  const of = (surface: Surface, list: BackendSection[]) => list.filter((s) => used(surface, s.name)).map((section) => ({ surface, section }));
  return [...of("ca", config.cas), ...of("dcv", config.dcvs), ...of("install", config.installs), ...of("alert", config.alerts)];
}

export async function checkBackends(config: RotaConfig, sections: { surface: Surface; section: BackendSection }[], ctx: CheckContext): Promise<Finding[]> {
  // Doctor alerts nobody and logs nothing a backend says while being built.
  const backendCtx: BackendContext = { stateDir: config.daemon.stateDir, clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {} };
  const findings: Finding[] = [];
  for (const { surface, section } of sections) {
    const id = `${surface}:${section.name}`;
    const entry = TYPES[surface][section.type];
    if (!entry) {
      findings.push({ id, status: "skip", message: `type ${section.type} is unknown to this rota` });
      continue;
    }
    try {
      const backend = await entry.create(section.name, section.options, backendCtx);
      if (!isCheckable(backend)) {
        findings.push({ id, status: "skip", message: `type ${section.type} has no self-check` });
        continue;
      }
      const results = await backend.check(AbortSignal.timeout(CHECK_TIMEOUT_MS), ctx);
      for (const r of results) findings.push({ id, ...r });
    } catch (err) {
      const timedOut = (err as Error)?.name === "TimeoutError";
      findings.push({ id, status: "fail", message: timedOut ? `no answer within ${CHECK_TIMEOUT_MS / 1000} s` : describeError(err) });
    }
  }
  return findings;
}
