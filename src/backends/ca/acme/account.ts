/** @module The ACME account key: one 0600 PKCS#8 file per CA under the state folder, created once, never in the database. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPem } from "../../../crypto/keys.ts";
import { ensureDir, writeFileAtomic } from "../../../fsutil.ts";

export function accountKeyPath(stateDir: string, caName: string): string {
  return join(stateDir, "acme", caName, "account.key");
}

export function loadOrCreateAccountKey(stateDir: string, caName: string): string {
  const path = accountKeyPath(stateDir, caName);
  if (existsSync(path)) return readFileSync(path, "utf8");
  ensureDir(join(stateDir, "acme", caName), 0o700);
  const pem = generateKeyPem("ecdsa-p256");
  writeFileAtomic(path, pem, { mode: 0o600 });
  return pem;
}
