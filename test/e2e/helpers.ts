/** @module Small helpers shared by the end-to-end tests: reading certs, the audit and the list through the binary. */
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runRota, waitFor } from "../harness/index.ts";

export interface AuditRow {
  id: string;
  cert_id: string;
  trigger: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  reason: string | null;
  node: string | null;
  events: Array<{ step: string; at: string; status: string; message: string; duration_ms: number }>;
}

export interface ListRow {
  id: string;
  domains: string[];
  status: string;
  not_after: string | null;
  days_left: number | null;
  renew_at: string | null;
  renew_reason: string | null;
  ari_window: { start: string; end: string } | null;
  next_check: string | null;
  retry_at: string | null;
  last_renewal: { id: string; status: string; trigger: string; finished_at: string | null } | null;
}

export async function audit(socket: string, certId?: string): Promise<AuditRow[]> {
  const r = await runRota(["audit", ...(certId ? [certId] : []), "--json", "--limit", "50", "--socket", socket]);
  if (r.code !== 0) throw new Error(`rota audit exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as AuditRow[];
}

export async function list(socket: string): Promise<ListRow[]> {
  const r = await runRota(["list", "--json", "--socket", socket]);
  if (r.code !== 0) throw new Error(`rota list exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ListRow[];
}

export function serialOf(certPath: string): string {
  const p = Bun.spawnSync(["openssl", "x509", "-in", certPath, "-noout", "-serial"], { stdout: "pipe" });
  return p.stdout.toString().trim().replace(/^serial=/, "").toLowerCase();
}

/** The challenge responses published in `webroot`: not the webroot backend's `.<hex>.tmp` of a write in progress, about to be renamed. */
export function challengeFiles(webroot: string): string[] {
  try {
    return readdirSync(join(webroot, ".well-known", "acme-challenge")).filter((name) => !name.startsWith("."));
  } catch {
    return [];
  }
}

export function fileExists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export async function waitForFile(path: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(() => fileExists(path), timeoutMs, 50, `${path} to appear`);
}

/** Waits until the cert has a finished renewal newer than `after` (ISO time), and returns it. */
export async function waitForRenewal(socket: string, certId: string, pred: (r: AuditRow) => boolean, timeoutMs = 30_000): Promise<AuditRow> {
  return waitFor(async () => (await audit(socket, certId).catch(() => [])).find((r) => r.finished_at !== null && pred(r)), timeoutMs, 100, `a matching renewal of ${certId}`);
}

export function read(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * A config on the local CA with a fast tick and short cooldowns, paths relative to the
 * config's folder: state/, rota.sock, and one `[[install]]` folder per target name.
 */
export function localCaConfig(o: { installs?: string[]; domains?: string[]; keyType?: string; extra?: string } = {}): string {
  const installs = o.installs ?? ["files"];
  return `[daemon]
state_dir = "state"
socket = "rota.sock"
check_interval_seconds = 1
failure_cooldown_seconds = 1
failure_cooldown_max_seconds = 2

[[ca]]
name = "internal"
type = "local"
${installs.map((n) => `\n[[install]]\nname = "${n}"\ntype = "filesystem"\ndir = "${n === "files" ? "certs" : n}"\n`).join("")}
[[cert]]
id = "app"
domains = ${JSON.stringify(o.domains ?? ["app.home.arpa"])}
ca = "internal"
install = ${JSON.stringify(installs)}
key_type = "${o.keyType ?? "ecdsa-p256"}"
${o.extra ?? ""}`;
}

/** A digest of every path under `dir` with its mode, owner, size, mtime and content: equal digests, an untouched tree. */
export function treeDigest(dir: string): string {
  const hasher = new Bun.CryptoHasher("sha256");
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const p = join(rel, name);
      const st = lstatSync(join(dir, p));
      hasher.update(`${p} ${st.mode} ${st.uid} ${st.gid} ${st.size} ${st.mtimeMs}\n`);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) hasher.update(readFileSync(join(dir, p)));
    }
  };
  walk("");
  return hasher.digest("hex");
}
