/**
 * @module NginxInstall: the filesystem backend's four files (and optionally `combined.pem`),
 * then `test_command` and, only if it passes, `reload_command`. Until the reload has
 * succeeded the previous files are kept, and any failure puts them back: the classic
 * "renewed but not reloaded" ends here either as a served certificate or a failed step,
 * never as new files behind a server that never read them.
 */
import { dirname, join } from "node:path";
import { describeError, RotaError, throwIfAborted } from "../../../errors.ts";
import { ensureDir } from "../../../fsutil.ts";
import { withLock } from "../../../lockfile.ts";
import type { BackendContext } from "../../context.ts";
import type { Checkable, CompactableInstall, InstallBackend, InstallRequest, HintedInstall } from "../../types.ts";
import { runCommand } from "../command.ts";
import { createFilesystemInstall } from "../filesystem/filesystem.ts";
import { SET_FILES, type ExtraFile } from "../filesystem/read-back.ts";
import { withPostInstall } from "../post-install.ts";
import type { NginxConfig } from "./config.ts";
import { keepPrevious } from "./previous-set.ts";

/**
 * For configs that point `ssl_certificate` and `ssl_certificate_key` at one file, so one
 * rename swaps both: written in the set's own swap, and read back with it (a missing or stale
 * one is damage the scheduler repairs install-only).
 */
const COMBINED: ExtraFile = {
  file: "combined.pem",
  mode: 0o600,
  data: ({ key, leaf, chain }) => key + leaf + chain,
  holds: "privkey.pem followed by fullchain.pem",
};

/**
 * The target as the registry builds it: the swap lock under `<state_dir>/nginx/` (made at
 * the first install, so building it writes nothing: `rota doctor` builds it too), and
 * `post_install_command` after the reload.
 */
export function createNginxTarget(name: string, cfg: NginxConfig, ctx: BackendContext): InstallBackend {
  const backend = createNginxInstall(name, cfg, join(ctx.stateDir, "nginx", `${name}.lock`), ctx.withheldEnv);
  return withPostInstall(backend, `nginx ${name}`, cfg.postInstall, (certId) => join(cfg.dir, certId), ctx.withheldEnv);
}

/**
 * `lockPath` serialises this target's swaps across renewal processes: one cert's reload
 * must not pick up another cert's files before their own test ran. `withheldEnv`: the
 * variables its commands must not inherit (`BackendContext.withheldEnv`).
 */
export function createNginxInstall(name: string, cfg: NginxConfig, lockPath: string, withheldEnv: BackendContext["withheldEnv"]): HintedInstall & CompactableInstall & Checkable {
  const who = `nginx ${name}`;
  const extras = cfg.combined ? [COMBINED] : [];
  const files = createFilesystemInstall(name, cfg, { type: "nginx", extras });
  // Another swap may hold the lock through both of its commands.
  const lockWaitMs = (2 * cfg.test.timeoutSeconds + 2 * cfg.reload.timeoutSeconds + 30) * 1000;

  const swap = async (req: InstallRequest, signal: AbortSignal): Promise<void> => {
    const dir = join(cfg.dir, req.certId);
    const paths = [...SET_FILES, ...extras].map((f) => join(dir, f.file));
    let previous;
    try {
      previous = keepPrevious(paths);
    } catch (err) {
      throw new RotaError(err instanceof RotaError ? err.code : "install_failed", `${who}: cannot keep the previous files: ${describeError(err)}`, { cause: err });
    }
    await files.install(req, signal);
    try {
      await runCommand(who, cfg.test, { withheld: withheldEnv(), signal });
      await runCommand(who, cfg.reload, { withheld: withheldEnv(), signal });
    } catch (err) {
      try {
        previous.restore();
      } catch (restoreErr) {
        throw new RotaError("install_failed", `${describeError(err)}; putting the previous files back failed too: ${describeError(restoreErr)}`, { cause: err });
      }
      const undone = previous.none ? `${dir} is left as it was, without the new files (there were none before)` : `the previous files are back in ${dir}`;
      throw new RotaError(err instanceof RotaError ? err.code : "install_failed", `${describeError(err)}; ${undone}`, { cause: err });
    }
  };

  return {
    name,
    async install(req, signal) {
      throwIfAborted(signal, who);
      ensureDir(dirname(lockPath), 0o700);
      await withLock(lockPath, lockWaitMs, who, () => swap(req, signal));
    },
    readBack: files.readBack,
    changesSince: files.changesSince,
    recheckAt: files.recheckAt,
    compact: files.compact,
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkNginx(name, cfg, signal, checkCtx, withheldEnv());
    },
  } satisfies HintedInstall & CompactableInstall & Checkable;
}
