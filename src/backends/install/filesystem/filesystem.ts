/**
 * @module FilesystemInstall: `<dir>/<cert id>/{privkey,cert,chain,fullchain}.pem`, each
 * replaced together and atomically, the key 0600 and the certificates 0644.
 */
import { chownSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { ensureDir, replaceFiles } from "../../../fsutil.ts";
import type { InstallBackend } from "../../types.ts";
import type { FilesystemConfig } from "./config.ts";

export function createFilesystemInstall(name: string, cfg: FilesystemConfig): InstallBackend {
  const owner = { uid: cfg.uid, gid: cfg.gid };
  return {
    name,
    async install(req, signal) {
      throwIfAborted(signal, `filesystem ${name}`);
      const dir = join(cfg.dir, req.certId);
      const chain = withNewline(req.chainPem);
      const leaf = withNewline(req.leafPem);
      try {
        ensureDir(dir, 0o755);
        if (owner.uid !== undefined || owner.gid !== undefined) chownSync(dir, owner.uid ?? -1, owner.gid ?? -1);
        // All four change together or not at all: a key beside a certificate it does not match
        // would stop the webserver at its next reload. Key first, cert last for readers in between.
        replaceFiles([
          { path: join(dir, "privkey.pem"), data: withNewline(req.privateKeyPem), mode: 0o600, ...owner },
          { path: join(dir, "chain.pem"), data: chain, mode: 0o644, ...owner },
          { path: join(dir, "fullchain.pem"), data: leaf + chain, mode: 0o644, ...owner },
          { path: join(dir, "cert.pem"), data: leaf, mode: 0o644, ...owner },
        ]);
      } catch (err) {
        throw new RotaError("install_failed", `filesystem ${name}: cannot write ${dir}: ${(err as Error).message}`, { cause: err });
      }
    },
    async currentCertPem(certId) {
      try {
        return readFileSync(join(cfg.dir, certId, "cert.pem"), "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw new RotaError("read_failed", `filesystem ${name}: cannot read ${join(cfg.dir, certId, "cert.pem")}: ${(err as Error).message}`, { cause: err });
      }
    },
  } satisfies InstallBackend;
}

function withNewline(pem: string): string {
  return pem === "" || pem.endsWith("\n") ? pem : `${pem}\n`;
}
