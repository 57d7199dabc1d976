/**
 * @module The checks of this machine's own state, read-only: `state_dir` (the service user's,
 * 0700, writable), `keys` (0600, the service user's, parsing) and `audit` (the schema
 * version against this binary's).
 */
import { createPrivateKey } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { modeText, writeProblem, type ServiceUser } from "../backends/check-access.ts";
import { errnoText } from "../config/paths.ts";
import type { RotaConfig } from "../config/schema.ts";
import { describeError } from "../errors.ts";
import type { Finding } from "./report.ts";

export function checkStateDir(dir: string, user: ServiceUser): Finding[] {
  const id = "state_dir";
  if (!existsSync(dir)) {
    const problem = writeProblem(dir, user);
    if (problem) return [{ id, status: "fail", message: problem, hint: `create it: install -d -m 0700 -o ${user.name} ${dir}` }];
    return [{ id, status: "warn", message: `${dir} does not exist yet; rota daemon creates it` }];
  }
  const st = statSync(dir);
  const found: Finding[] = [];
  if (st.uid !== user.uid) found.push({ id, status: "fail", message: `${dir} is owned by uid ${st.uid}, not the service user ${user.name} (${user.uid})`, hint: `chown -R ${user.name} ${dir}` });
  if ((st.mode & 0o777) !== 0o700) found.push({ id, status: "fail", message: `${dir} has mode ${modeText(st.mode)}, not 0700: keys and the audit trail live there`, hint: `chmod 700 ${dir}` });
  const problem = writeProblem(dir, user);
  // A folder of another owner is one finding already, with its fix.
  if (problem && st.uid === user.uid) found.push({ id, status: "fail", message: problem, hint: `chmod u+rwx ${dir}` });
  return found.length > 0 ? found : [{ id, status: "ok", message: `${dir}: owned by ${user.name}, 0700, writable` }];
}

/** One key file to check, and what names it in messages. */
export interface KeyFile {
  path: string;
  what: string;
}

/** `key_path` of each cert, and the account key of each ACME CA they use (those that exist: both are created on first use). */
export function keyFiles(config: RotaConfig, certIds: ReadonlySet<string>): KeyFile[] {
  const certs = config.certs.filter((c) => certIds.has(c.id));
  const acme = new Set(config.cas.filter((ca) => ca.type === "acme" && certs.some((c) => c.ca === ca.name)).map((ca) => ca.name));
  return [
    ...certs.map((c) => ({ path: c.keyPath, what: `cert ${c.id} key_path` })),
    ...[...acme].map((name) => ({ path: join(config.daemon.stateDir, "acme", name, "account.key"), what: `ca ${name} account key` })),
  ];
}

export function checkKeys(files: KeyFile[], user: ServiceUser): Finding[] {
  const id = "keys";
  const found: Finding[] = [];
  let present = 0;
  for (const f of files) {
    let st;
    try {
      st = statSync(f.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      found.push({ id, status: "fail", message: `${f.what} ${f.path}: cannot read (${errnoText(err)})` });
      continue;
    }
    present++;
    if (!st.isFile()) {
      found.push({ id, status: "fail", message: `${f.what} ${f.path} is not a file` });
      continue;
    }
    if ((st.mode & 0o777) !== 0o600) found.push({ id, status: "fail", message: `${f.what} ${f.path} has mode ${modeText(st.mode)}, not 0600`, hint: `chmod 600 ${f.path}` });
    if (st.uid !== user.uid) found.push({ id, status: "fail", message: `${f.what} ${f.path} is owned by uid ${st.uid}, not the service user ${user.name} (${user.uid})`, hint: `chown ${user.name} ${f.path}` });
    const parses = parseProblem(f.path);
    if (parses) found.push({ id, status: "fail", message: `${f.what} ${f.path}: ${parses}`, hint: "move it aside: the next renewal writes a new key" });
  }
  if (found.length > 0) return found;
  const absent = files.length - present;
  return [{ id, status: "ok", message: `${present} key(s): 0600, owned by ${user.name}, each parses${absent > 0 ? `; ${absent} not created yet (made at first use)` : ""}` }];
}

/** Why the file is not a private key; never quotes it. */
function parseProblem(path: string): string | undefined {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    return `cannot read (${errnoText(err)})`;
  }
  try {
    createPrivateKey(pem);
    return undefined;
  } catch {
    // OpenSSL's reason could quote the file: only that it is not a key.
    return "is not a private key";
  }
}

/** The audit database's schema against this binary's (`latest` migrations); opened read-only. */
export async function checkAudit(path: string, latest: number): Promise<Finding[]> {
  const id = "audit";
  if (!existsSync(path)) return [{ id, status: "ok", message: `${path} does not exist yet; rota daemon creates it` }];
  let version: number;
  try {
    const { Database } = await import("bun:sqlite");
    const db = new Database(path, { readonly: true });
    try {
      version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
    } finally {
      db.close();
    }
  } catch (err) {
    return [{ id, status: "fail", message: `${path}: cannot read (${describeError(err)})` }];
  }
  if (version > latest) return [{ id, status: "fail", message: `${path}: schema v${version} is newer than this rota's (v${latest})`, hint: "install the rota that wrote it, or a newer one" }];
  if (version >= 1 && version < latest) return [{ id, status: "warn", message: `${path}: schema v${version}, this rota's is v${latest}: will migrate on start, after a backup` }];
  return [{ id, status: "ok", message: version === 0 ? `${path}: empty; rota daemon creates its tables` : `${path}: schema v${version}` }];
}
