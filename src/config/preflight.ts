/**
 * @module What the daemon would refuse in the environment a valid config points at,
 * found without creating or changing anything: folders it must create or write in,
 * existing keys it would not use. `rota check-config` reports it all; the daemon runs it
 * at start, before it creates anything, so a path a config value names fails as a config
 * problem naming the key, never as a raw errno.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { createPrivateKey, type KeyObject } from "node:crypto";
import { dirname } from "node:path";
import { INSTALL_TYPES } from "../backends/registry.ts";
import { keyTypeOfObject } from "../crypto/keys.ts";
import { errnoText, isWithin, nearestExisting } from "./paths.ts";
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

/** A PEM private key is a few kilobytes; a bigger file is not one, and is not read whole. */
const KEY_FILE_MAX = 1024 * 1024;

/**
 * Where each cert and install section is in the file (`cert[2]`), for the problem lines.
 * By default the lists' own indexes, which match the file when the whole config is valid;
 * a partial config (src/config/validate.ts) has gaps where sections were refused.
 */
export interface SectionKeys {
  certs: string[];
  installs: string[];
}

/** Kernel filesystems: root may write there, but nothing the daemon creates can live in them. */
const KERNEL_FILESYSTEMS = ["/proc", "/sys"];

export function preflight(config: RotaConfig, keys?: SectionKeys): PreflightReport {
  const report = preflightDaemon(config, keys);
  const certs = preflightKeys(config.certs, (i) => keys?.certs[i] ?? `cert[${i}]`);
  return { fatal: report.fatal, certs: [...certs.certs, ...report.certs], warnings: certs.warnings };
}

/**
 * Everything `preflight` checks but the certs' keys: the daemon's own paths (fatal) and the
 * install sections' folders. A few calls whatever the number of certs.
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
  config.installs.forEach((section, i) => {
    for (const folder of INSTALL_TYPES[section.type]?.keyFolders?.(section.options) ?? []) {
      const problem = folderProblem(folder.path);
      if (problem) report.certs.push(`${keys?.installs[i] ?? `install[${i}]`}.${folder.key}: ${problem}`);
    }
  });
  return report;
}

/**
 * The certs' keys as a renewal would find them: one read and parse per key, about 0.1 ms
 * each, so a daemon with thousands of certs runs it off its start path, a slice at a time.
 * `key`: where the i-th of `certs` is in the file (`cert[12]`).
 */
export function preflightKeys(certs: readonly CertConfig[], key: (i: number) => string): PreflightReport {
  const report: PreflightReport = { fatal: [], certs: [], warnings: [] };
  certs.forEach((cert, i) => checkKey(cert, `${key(i)}.key_path`, report));
  return report;
}

/**
 * Why the daemon could not create `entry` (or, without one, files) inside `dir`, creating
 * `dir` first if it is missing; undefined when it can. Looks at `dir` or, when absent, its
 * nearest existing ancestor. access(2) answers for this process: root passes permission
 * bits but not a read-only mount (EROFS) or an immutable folder (EPERM), and not /proc
 * or /sys, whose folders pass access(2) yet hold only what the kernel puts there.
 */
function folderProblem(dir: string, entry?: string): string | undefined {
  const target = entry ?? dir;
  const kernel = KERNEL_FILESYSTEMS.find((root) => isWithin(target, root));
  if (kernel) return `${target} is under ${kernel}, a kernel filesystem, not a real folder`;
  const at = nearestExisting(dir);
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
function checkKey(cert: CertConfig, key: string, report: PreflightReport): void {
  const path = cert.keyPath;
  const found = readKey(path);
  if ("problem" in found) {
    report.certs.push(`${key}: ${found.problem}`);
    return;
  }
  // Absent or replaced, the key is (re)written in its folder.
  const folder = found.key === undefined || keyTypeOfObject(found.key) !== cert.keyType ? folderProblem(dirname(path), path) : undefined;
  if (found.key === undefined) {
    if (folder) report.certs.push(`${key}: ${folder}`);
    return;
  }
  const type = keyTypeOfObject(found.key);
  if (type === cert.keyType) return;
  const holds = `${path} holds ${type ? `an ${type} key` : "a key of another type"}, not the configured ${cert.keyType}`;
  if (folder) report.certs.push(`${key}: ${holds}, and cannot be replaced: ${folder}`);
  else report.warnings.push(`${key}: ${holds}: the next renewal moves it to ${path}.old and uses a new ${cert.keyType} key`);
}

/** The parsed key at `path` (undefined when absent), or why the file is not a key the daemon can use. */
function readKey(path: string): { key: KeyObject | undefined } | { problem: string } {
  let pem: string;
  try {
    // A FIFO or device at key_path would block the read forever: only a regular file is read.
    const st = statSync(path);
    if (!st.isFile() || st.size > KEY_FILE_MAX) return { problem: notAKey(path) };
    pem = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { key: undefined };
    return { problem: `cannot read ${path} (${errnoText(err)})` };
  }
  try {
    return { key: createPrivateKey(pem) };
  } catch {
    return { problem: notAKey(path) };
  }
}

/** The daemon's own refusal, word for word (src/crypto/keys.ts). */
function notAKey(path: string): string {
  return `${path} is not a private key (fix or remove the file; rota will not overwrite it)`;
}
