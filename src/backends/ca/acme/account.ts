/** @module The ACME account key: one 0600 PKCS#8 file per CA under the state folder, created once, never in the database. */
import { linkSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPem } from "../../../crypto/keys.ts";
import { ensureDir, writeFileAtomic } from "../../../fsutil.ts";

function accountKeyPath(stateDir: string, caName: string): string {
  return join(stateDir, "acme", caName, "account.key");
}

/**
 * The account key, created on first use. Renewals of two certs may start together in two
 * processes: the key is staged beside its final name and hard-linked into place, so the
 * first one wins and the other reads the winner's key instead of registering a second account.
 */
export function loadOrCreateAccountKey(stateDir: string, caName: string): string {
  const path = accountKeyPath(stateDir, caName);
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  ensureDir(join(stateDir, "acme", caName), 0o700);
  const staged = `${path}.${process.pid}.new`;
  writeFileAtomic(staged, generateKeyPem("ecdsa-p256"), { mode: 0o600 });
  try {
    linkSync(staged, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    rmSync(staged, { force: true });
  }
  return readFileSync(path, "utf8");
}
