/**
 * @module What the daemon would refuse in the environment a valid config points at,
 * found without creating or changing anything: folders it must create or write in,
 * existing keys it would not use, what cluster mode cannot run (cluster-checks.ts).
 * `rota check-config` reports it all; the daemon runs it at start, before it creates
 * anything, so a path a config value names fails as a config problem naming the key,
 * never as a raw errno.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { rootNameWarning } from "../backends/ca/local/root-name.ts";
import { INSTALL_TYPES } from "../backends/registry.ts";
import { keyTypeOfObject } from "../crypto/keys.ts";
import { clusterConfigProblems } from "./cluster-checks.ts";
import { clusterMachineProblems } from "./cluster-machine.ts";
import { readKeyFile } from "./key-file.ts";
import { errnoText, isWithin, nearestExisting, PathMemo } from "./paths.ts";
import type { CertConfig, RotaConfig } from "./schema.ts";

/** Each list holds lines `<key path>: <problem>`, like a ConfigError's. */
export interface PreflightReport {
  /** The daemon cannot run at all: `rota check-config` and `rota daemon` exit 2. */
  fatal: string[];
  /**
   * One cert cannot renew or install as configured. `rota check-config` exits 2; the
   * daemon logs them as warnings and runs, so every other cert keeps renewing.
   */
  certs: string[];
  /** Not refused, but the operator should know (a key of another type will be replaced). */
  warnings: string[];
}

/**
 * Where each cert, install and CA section is in the file (`cert[2]`), for the problem lines.
 * By default the lists' own indexes, which match the file when the whole config is valid;
 * a partial config (src/config/validate.ts) has gaps where sections were refused.
 */
export interface SectionKeys {
  certs: string[];
  installs: string[];
  cas: string[];
}

/** Kernel filesystems: root may write there, but nothing the daemon creates can live in them. */
const KERNEL_FILESYSTEMS = ["/proc", "/sys"];

export function preflight(config: RotaConfig, keys?: SectionKeys): PreflightReport {
  const report = preflightDaemon(config, keys);
  const certs = preflightKeys(config, (i) => keys?.certs[i] ?? `cert[${i}]`);
  return { fatal: report.fatal, certs: [...certs.certs, ...report.certs], warnings: [...report.warnings, ...certs.warnings] };
}

/**
 * Everything `preflight` checks but the certs' keys: the daemon's own paths (fatal), the
 * install sections' folders and each local CA's root name. A few calls whatever the number of certs.
 */
export function preflightDaemon(config: RotaConfig, keys?: SectionKeys): PreflightReport {
  const report: PreflightReport = { fatal: [], certs: [], warnings: [] };
  const fatal = (key: string, problem: string | undefined) => {
    if (problem) report.fatal.push(`${key}: ${problem}`);
  };
  fatal("daemon.state_dir", folderProblem(config.daemon.stateDir));
  fatal("daemon.socket", folderProblem(dirname(config.daemon.socket), config.daemon.socket));
  // SQLite in WAL mode also creates `-wal` and `-shm` files beside the database.
  if (config.audit.backend === "sqlite") {
    const audit = config.audit.path;
    fatal("audit.path", existsSync(audit) ? (folderProblem(dirname(audit)) ?? fileProblem(audit)) : folderProblem(dirname(audit), audit));
  }
  if (config.cluster.enabled) {
    // Keys by the cluster's rules (never created, never replaced: fatal, so before anything
    // starts), and the config held to the [cluster] the daemon runs with, which a reload
    // keeps (validation held the file to its own).
    const where = { cert: (i: number) => keys?.certs[i] ?? `cert[${i}]`, ca: (i: number) => keys?.cas[i] ?? `ca[${i}]` };
    report.fatal.push(...clusterConfigProblems(config, where), ...clusterMachineProblems(config, where));
  }
  config.cas.forEach((section, i) => {
    const warning = section.type === "local" ? rootNameWarning(config.daemon.stateDir, config.cas, section, keys?.cas[i] ?? `ca[${i}]`) : undefined;
    if (warning) report.warnings.push(warning);
  });
  config.installs.forEach((section, i) => {
    for (const folder of INSTALL_TYPES[section.type]?.keyFolders?.(section.options) ?? []) {
      const problem = folderProblem(folder.path);
      if (problem) report.certs.push(`${keys?.installs[i] ?? `install[${i}]`}.${folder.key}: ${problem}`);
    }
  });
  return report;
}

/**
 * The certs' keys as a single node's renewal would find them: one read and parse per key,
 * about 0.1 ms each, so a daemon with thousands of certs runs it off its start path, a slice
 * at a time (`certs`: that slice). Nothing in cluster mode, whose key rules `preflightDaemon`
 * applies, fatally. `key`: where the i-th of `certs` is in the file (`cert[12]`).
 */
export function preflightKeys(config: Pick<RotaConfig, "cluster"> & { certs: readonly CertConfig[] }, key: (i: number) => string): PreflightReport {
  const report: PreflightReport = { fatal: [], certs: [], warnings: [] };
  if (config.cluster.enabled) return report;
  const memo = new PathMemo();
  config.certs.forEach((cert, i) => checkKey(cert, `${key(i)}.key_path`, report, memo));
  return report;
}

/**
 * Why the daemon could not create `entry` (or, without one, files) inside `dir`, creating
 * `dir` first if it is missing; undefined when it can. Looks at `dir` or, when absent, its
 * nearest existing ancestor. access(2) answers for this process: root passes permission
 * bits but not a read-only mount (EROFS) or an immutable folder (EPERM), and not /proc
 * or /sys, whose folders pass access(2) yet hold only what the kernel puts there.
 */
function folderProblem(dir: string, entry?: string, memo?: PathMemo): string | undefined {
  const target = entry ?? dir;
  const kernel = KERNEL_FILESYSTEMS.find((root) => isWithin(target, root, memo));
  if (kernel) return `${target} is under ${kernel}, a kernel filesystem, not a real folder`;
  const at = nearestExisting(dir, memo);
  const prefix = target === at ? "" : `cannot create ${target}: `;
  if (at === undefined) return `${prefix}no folder above it exists`;
  if (!statSync(at).isDirectory()) return `${prefix}${at} is not a directory`;
  try {
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch (err) {
    return `${prefix}${at} is not writable (${errnoText(err)})`;
  }
  return undefined;
}

/** Why the existing file at `path` could not be written; undefined when it can. */
function fileProblem(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
  } catch (err) {
    return `${path} is not writable (${errnoText(err)})`;
  }
  return undefined;
}

/**
 * The cert's key as a renewal would find it (src/crypto/keys.ts `loadOrCreateKey`): absent
 * (created, so its folder must be writable), not a private key (refused, never
 * overwritten), of another type (moved to `.old` and replaced: a warning), or fine.
 */
function checkKey(cert: CertConfig, key: string, report: PreflightReport, memo: PathMemo): void {
  const path = cert.keyPath;
  const found = readKeyFile(path);
  if (found.state === "not_a_key") {
    report.certs.push(`${key}: ${path} is not a private key (fix or remove the file; rota will not overwrite it)`);
    return;
  }
  if (found.state === "unreadable") {
    report.certs.push(`${key}: cannot read ${path} (${found.why})`);
    return;
  }
  // Absent or replaced, the key is (re)written in its folder.
  const type = found.state === "key" ? keyTypeOfObject(found.key) : undefined;
  const folder = type !== cert.keyType ? folderProblem(dirname(path), path, memo) : undefined;
  if (found.state === "absent") {
    if (folder) report.certs.push(`${key}: ${folder}`);
    return;
  }
  if (type === cert.keyType) return;
  const holds = `${path} holds ${type ? `an ${type} key` : "a key of another type"}, not the configured ${cert.keyType}`;
  if (folder) report.certs.push(`${key}: ${holds}, and cannot be replaced: ${folder}`);
  else report.warnings.push(`${key}: ${holds}: the next renewal moves it to ${path}.old and uses a new ${cert.keyType} key`);
}
