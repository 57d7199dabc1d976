/**
 * @module Where each local CA keeps its files: `<state_dir>/local-ca/<name>/`. Before
 * rota kept one shared `<state_dir>/local-ca/`; `adoptSharedLocalCa` moves that folder's
 * files to the first local CA's folder, so its root (already in trust stores) lives on.
 */
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { BackendSection } from "../../../config/schema.ts";
import { ensureDir, fsyncDir } from "../../../fsutil.ts";
import type { Logger } from "../../../log.ts";

/** The files of a local CA, as the shared folder held them. */
const CA_FILES = ["root.key", "root.pem", "intermediate.key", "intermediate.pem"] as const;

function localCaBase(stateDir: string): string {
  return join(stateDir, "local-ca");
}

export function localCaDir(stateDir: string, name: string): string {
  return join(localCaBase(stateDir), name);
}

/** The root certificate clients import to trust certificates from the local CA `name`. */
export function localCaRootPath(stateDir: string, name: string): string {
  return join(localCaDir(stateDir, name), "root.pem");
}

/**
 * Where the root of local CA `name` is now: its own folder, or, until a daemon has
 * moved it there, the shared folder when `name` is the first local CA.
 */
export function currentRootPath(stateDir: string, cas: BackendSection[], name: string): string {
  const own = localCaRootPath(stateDir, name);
  const shared = join(localCaBase(stateDir), "root.pem");
  return !existsSync(own) && localCaSections(cas)[0]?.name === name && existsSync(shared) ? shared : own;
}

/**
 * Cluster mode never creates a local CA's root: one made on this node would not be the root
 * the other nodes' clients trust. Both root files must be here, in the CA's folder or (until
 * the start moves them) the shared one; undefined when they are.
 */
export function missingRootProblem(stateDir: string, cas: BackendSection[], name: string): string | undefined {
  const pem = currentRootPath(stateDir, cas, name);
  if (isFile(pem) && isFile(join(dirname(pem), "root.key"))) return undefined;
  return `a local CA in cluster mode needs ${localCaDir(stateDir, name)}/root.key and root.pem on every node; copy them from the node that made them`;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The `[[ca]]` sections of type "local", in config order. */
export function localCaSections(cas: BackendSection[]): BackendSection[] {
  return cas.filter((c) => c.type === "local");
}

/**
 * Moves a shared `<state_dir>/local-ca/` layout into the first local CA's folder, file by
 * file with rename, reissuing nothing. A move cut short by a crash is finished at the
 * next call; a file already at its new place is never overwritten. Returns the names of
 * the files moved. Call it before anything issues from a local CA.
 */
export function adoptSharedLocalCa(stateDir: string, cas: BackendSection[], log: Logger): string[] {
  const first = localCaSections(cas)[0];
  const base = localCaBase(stateDir);
  const left = CA_FILES.filter((f) => existsSync(join(base, f)));
  if (!first || left.length === 0) return [];
  const dir = localCaDir(stateDir, first.name);
  ensureDir(dir, 0o700);
  const moved: string[] = [];
  for (const f of left) {
    if (existsSync(join(dir, f))) {
      log.warn(`local-ca: ${join(base, f)} left in place: ${join(dir, f)} exists already`);
      continue;
    }
    renameSync(join(base, f), join(dir, f));
    moved.push(f);
  }
  fsyncDir(dir);
  fsyncDir(base);
  rmSync(join(base, ".lock"), { force: true });
  if (moved.length > 0) log.info(`local-ca: moved ${moved.join(", ")} from ${base} to ${dir} (ca ${JSON.stringify(first.name)}); nothing reissued`);
  return moved;
}
