/**
 * @module `rota doctor`'s run (issue 15 §5): read-only checks in a fixed order — config,
 * state_dir, keys, audit, daemon, then each backend's own — and the exit code they give.
 * It never renews, installs, writes state, latches a DSM target or alerts.
 */
import type { CheckContext } from "../backends/types.ts";
import { ConfigError, loadConfigWarned } from "../config/load.ts";
import type { RotaConfig } from "../config/schema.ts";
import { redact } from "../config/secret.ts";
import { describeError } from "../errors.ts";
import { MIGRATIONS } from "../store/migrations.ts";
import { checkBackends, sectionsToCheck } from "./backends.ts";
import { checkDaemon } from "./daemon.ts";
import { withDropIn } from "./drop-in.ts";
import { checkAudit, checkKeys, checkStateDir, keyFiles } from "./local.ts";
import { checkSurrealAudit } from "./audit-surreal.ts";
import { exitCode, type Finding } from "./report.ts";
import { secretValues, unsetEnvNames } from "./secrets.ts";
import { lookupUser, stateDirOwner } from "./user.ts";

export interface DoctorOptions {
  configPath: string;
  certId: string | undefined;
  /** `--socket`; else the config's `daemon.socket`. */
  socket: string | undefined;
  user: string | undefined;
  offline: boolean;
  version: string;
}

export interface DoctorResult {
  findings: Finding[];
  exitCode: number;
}

/** Thrown for a command line that cannot run at all (an unknown `--user`): exit 2 with this line. */
export class DoctorUsageError extends Error {}

export async function runDoctor(o: DoctorOptions): Promise<DoctorResult> {
  let config: RotaConfig;
  let warnings: string[];
  try {
    // Run from a shell, doctor often lacks what the service's environment sets (systemd's
    // EnvironmentFile): an unset *_env secret is a warning, and the backends needing it are skipped.
    ({ config, warnings } = loadConfigWarned(o.configPath, process.env, { unsetEnvWarns: true }));
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [describeError(err)];
    const file = err instanceof ConfigError ? err.file : o.configPath;
    // One finding per problem, each naming its key; the fix goes under the last.
    const findings: Finding[] = problems.map((p, i) => ({ id: "config", status: "fail", message: `${file}: ${p}`, ...(i === problems.length - 1 && { hint: "fix the config; the other checks run once it is valid" }) }));
    return { findings, exitCode: exitCode(findings, { configInvalid: true, unknownCert: false, daemonUnreachable: false }) };
  }
  const user = o.user === undefined ? stateDirOwner(config.daemon.stateDir) : lookupUser(o.user);
  if (!user) throw new DoctorUsageError(`rota: --user ${JSON.stringify(o.user)}: no such user in /etc/passwd`);

  const findings: Finding[] = [{ id: "config", status: "ok", message: `${config.file}: ${config.certs.length} cert(s), ${config.cas.length} CA(s), ${config.dcvs.length} DCV, ${config.installs.length} install target(s), ${config.alerts.length} alert sink(s)` }];
  for (const w of warnings) findings.push({ id: "config", status: "warn", message: w });
  const unknownCert = o.certId !== undefined && !config.certs.some((c) => c.id === o.certId);
  if (unknownCert) {
    const known = config.certs.map((c) => c.id).join(", ") || "none";
    findings.push({ id: "cert", status: "fail", message: `no cert with id ${JSON.stringify(o.certId)} in ${config.file} (certs: ${known})` });
    return { findings, exitCode: exitCode(findings, { configInvalid: false, unknownCert, daemonUnreachable: false }) };
  }
  const certIds = new Set(o.certId === undefined ? config.certs.map((c) => c.id) : [o.certId]);
  const ctx: CheckContext = { offline: o.offline, user, cluster: config.cluster.enabled };

  findings.push(...checkStateDir(config.daemon.stateDir, user));
  findings.push(...checkKeys(keyFiles(config, certIds), user));
  findings.push(...(config.audit.backend === "sqlite" ? await checkAudit(config.audit.path, MIGRATIONS.length) : await checkSurrealAudit(config.audit, o.offline)));
  const daemon = await checkDaemon(o.socket ?? config.daemon.socket, o.version);
  findings.push(...daemon.findings);
  findings.push(...(await checkBackends(config, sectionsToCheck(config, certIds, o.certId !== undefined), ctx, unsetEnvNames)));

  const secrets = secretValues(config);
  const clean = withDropIn(findings).map((f) => ({ ...f, message: redact(f.message, secrets), ...(f.hint !== undefined && { hint: redact(f.hint, secrets) }) }));
  return { findings: clean, exitCode: exitCode(clean, { configInvalid: false, unknownCert: false, daemonUnreachable: !daemon.reachable }) };
}
