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
import type { BackendSection, CertConfig, RotaConfig } from "../config/schema.ts";
import { secretEnvNames } from "../config/secret.ts";
import { describeError } from "../errors.ts";
import { createLogger } from "../log.ts";
import type { Finding } from "./report.ts";

/** Longer than any one check's own bound (an ACME directory GET has 10 s), short enough for a person waiting. */
const CHECK_TIMEOUT_MS = 30_000;

export type Surface = "ca" | "dcv" | "install" | "alert";

const TYPES: Record<Surface, Record<string, BackendEntry<unknown>>> = { ca: CA_TYPES, dcv: DCV_TYPES, install: INSTALL_TYPES, alert: ALERT_TYPES };

/** One section to check, with the checked certs it serves (every checked cert, for an alert sink). */
export interface SectionToCheck {
  surface: Surface;
  section: BackendSection;
  certs: CertConfig[];
}

/** The sections to check, in the order: CAs, DCVs, installs, alerts, each in config order; narrowed to the certs in `certIds`. */
export function sectionsToCheck(config: RotaConfig, certIds: ReadonlySet<string>, narrowed: boolean): SectionToCheck[] {
  const certs = config.certs.filter((c) => certIds.has(c.id));
  const serves = (surface: Surface, name: string, c: CertConfig) => surface === "alert" || (surface === "ca" ? c.ca === name : surface === "dcv" ? c.dcv === name : c.install.includes(name));
  const of = (surface: Surface, list: BackendSection[]) =>
    list.map((section) => ({ surface, section, certs: certs.filter((c) => serves(surface, section.name, c)) })).filter((s) => !narrowed || s.certs.length > 0);
  return [...of("ca", config.cas), ...of("dcv", config.dcvs), ...of("install", config.installs), ...of("alert", config.alerts)];
}

/**
 * Each section's own check, in order. `unsetSecrets` names the `*_env` variables a section's
 * options need that this shell lacks: such a section is skipped, since its check would only
 * report a credential the daemon may well have.
 */
export async function checkBackends(
  config: RotaConfig,
  sections: SectionToCheck[],
  ctx: CheckContext,
  unsetSecrets: (options: unknown) => string[] = () => [],
): Promise<Finding[]> {
  // Doctor alerts nobody and logs nothing a backend says while being built.
  // test_command runs as in a renewal: without the config's `*_env` secrets.
  const withheld = secretEnvNames(config);
  const backendCtx: BackendContext = { stateDir: config.daemon.stateDir, clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => withheld };
  const findings: Finding[] = [];
  for (const { surface, section, certs } of sections) {
    const id = `${surface}:${section.name}`;
    const entry = TYPES[surface][section.type];
    if (!entry) {
      findings.push({ id, status: "skip", message: `type ${section.type} is unknown to this rota` });
      continue;
    }
    const unset = unsetSecrets(section.options);
    if (unset.length > 0) {
      findings.push({
        id,
        status: "skip",
        message: `not checked: ${unset.join(", ")} ${unset.length === 1 ? "is" : "are"} not set in this shell`,
        hint: "set it as the service's environment does (e.g. its EnvironmentFile) and run doctor again to check this backend",
      });
      continue;
    }
    try {
      const backend = await entry.create(section.name, section.options, backendCtx);
      if (!isCheckable(backend)) {
        findings.push({ id, status: "skip", message: `type ${section.type} has no self-check` });
        continue;
      }
      const results = await backend.check(AbortSignal.timeout(CHECK_TIMEOUT_MS), { ...ctx, certs });
      for (const r of results) findings.push({ id, ...r });
    } catch (err) {
      const timedOut = (err as Error)?.name === "TimeoutError";
      findings.push({ id, status: "fail", message: timedOut ? `no answer within ${CHECK_TIMEOUT_MS / 1000} s` : describeError(err) });
    }
  }
  return findings;
}
