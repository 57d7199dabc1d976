/**
 * @module FilesystemInstall: `<dir>/<cert id>/{privkey,cert,chain,fullchain}.pem`, each
 * replaced together and atomically, the key 0600 and the certificates 0644. It never
 * writes or chowns through a symlink: the daemon often runs as root, and a link planted
 * at `<dir>/<cert id>` would otherwise hand it someone else's folder.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, openSync } from "node:fs";
import { join } from "node:path";
import { systemClock, type Clock } from "../../../clock.ts";
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { ensureDir, refuseSymlink, replaceFiles } from "../../../fsutil.ts";
import type { BackendContext } from "../../context.ts";
import type { Checkable, CompactableInstall, HintedInstall, InstallBackend } from "../../types.ts";
import { withPostInstall } from "../post-install.ts";
import type { FilesystemConfig } from "./config.ts";
import { createSetHints, createSetReader, expectedUid, type ExtraFile } from "./read-back.ts";

/** The target as the registry builds it: the backend, then `post_install_command` when one is set. */
export function createFilesystemTarget(name: string, cfg: FilesystemConfig, ctx: Pick<BackendContext, "clock" | "withheldEnv">): InstallBackend {
  return withPostInstall(createFilesystemInstall(name, cfg, { clock: ctx.clock }), `filesystem ${name}`, cfg.postInstall, (certId) => join(cfg.dir, certId), ctx.withheldEnv);
}

export interface FileSetOptions {
  /** Starts every message: a target type that writes this set through it (nginx) gives its own. Default "filesystem". */
  type?: string;
  clock?: Clock;
  /** Files written with the set, in the same swap, and read back with it (nginx's `combined.pem`). */
  extras?: readonly ExtraFile[];
}

export function createFilesystemInstall(name: string, cfg: FilesystemConfig, opts: FileSetOptions = {}): HintedInstall & CompactableInstall & Checkable {
  const who = `${opts.type ?? "filesystem"} ${name}`;
  const extras = opts.extras ?? [];
  const reader = createSetReader(who, cfg, { clock: opts.clock ?? systemClock }, extras);
  const owner = { uid: cfg.uid, gid: cfg.gid };
  return {
    name,
    async install(req, signal) {
      throwIfAborted(signal, who);
      const dir = join(cfg.dir, req.certId);
      const texts = { key: withNewline(req.privateKeyPem), leaf: withNewline(req.leafPem), chain: withNewline(req.chainPem) };
      try {
        refuseSymlink(dir);
        ensureDir(dir, 0o755);
        guardFolder(dir, cfg);
        // All change together or not at all: a key beside a certificate it does not match
        // would stop the webserver at its next reload. Key first, cert last for readers in between.
        replaceFiles([
          { path: join(dir, "privkey.pem"), data: texts.key, mode: 0o600, ...owner },
          { path: join(dir, "chain.pem"), data: texts.chain, mode: 0o644, ...owner },
          { path: join(dir, "fullchain.pem"), data: texts.leaf + texts.chain, mode: 0o644, ...owner },
          ...extras.map((e) => ({ path: join(dir, e.file), data: e.data(texts), mode: e.mode, ...owner })),
          { path: join(dir, "cert.pem"), data: texts.leaf, mode: 0o644, ...owner },
        ]);
      } catch (err) {
        if (err instanceof RotaError && err.code === "symlink_refused") throw new RotaError(err.code, `${who}: ${err.message}`, { cause: err });
        throw new RotaError("install_failed", `${who}: cannot write ${dir}: ${(err as Error).message}`, { cause: err });
      }
    },
    readBack: reader,
    compact: reader.compact,
    ...createSetHints(cfg),
    async check(_signal, checkCtx) {
      const { checkOwnership, checkWritableDir } = await import("./check.ts");
      return [checkWritableDir(cfg.dir, checkCtx), ...checkOwnership(owner, checkCtx)];
    },
  } satisfies HintedInstall & CompactableInstall & Checkable;
}

/**
 * Puts `<dir>/<cert id>` back as the read-back wants it (`folderDamageOf`): owned by
 * `expectedUid` (and the configured group), writable by its owner alone; the other mode bits
 * are left as they are (a 0750 folder stays so). Through a descriptor opened without
 * following a link, so a link swapped in after `refuseSymlink` is not chowned. Not root, the
 * daemon cannot chown a folder it does not own: the install then fails, saying why.
 */
function guardFolder(dir: string, cfg: FilesystemConfig): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const s = fstatSync(fd);
    const uid = expectedUid(cfg);
    const wrongUid = uid !== undefined && s.uid !== uid;
    const wrongGid = cfg.gid !== undefined && s.gid !== cfg.gid;
    if (wrongUid || wrongGid) fchownSync(fd, wrongUid ? uid : -1, wrongGid ? cfg.gid! : -1);
    if ((s.mode & 0o022) !== 0) fchmodSync(fd, s.mode & 0o7755);
  } finally {
    closeSync(fd);
  }
}

function withNewline(pem: string): string {
  return pem === "" || pem.endsWith("\n") ? pem : `${pem}\n`;
}
