/**
 * @module `post_install_command` on a file-based target (filesystem, nginx, haproxy): run after
 * each successful install with the certificate's facts in its environment, as certbot's
 * deploy hook is, so a service rota does not know (postfix, a VPN) picks up the new files.
 */
import { summarizeCert } from "../../crypto/summary.ts";
import type { BackendContext } from "../context.ts";
import { canReadBack, hasChangeHints, isCheckable, type CheckContext, type HintedInstall, type InstallBackend, type InstallRequest, type ReadableInstall } from "../types.ts";
import { runCommand, type Command } from "./command.ts";

/** What the command finds in its environment; `certDir` is where the target wrote this cert's files. */
function postInstallEnv(req: InstallRequest, certDir: string): Record<string, string> {
  return {
    ROTA_CERT_ID: req.certId,
    ROTA_DOMAINS: req.domains.join(" "),
    ROTA_CERT_DIR: certDir,
    ROTA_SERIAL: summarizeCert(req.leafPem).serial,
  };
}

/**
 * `backend` with `cmd` run after each install it completes. A failing command fails the
 * install (its output in the message, `who` first) but undoes nothing: the files are valid,
 * it is the service behind the command that did not take them. The read-back, when the
 * backend has one, is the backend's own, and so is its self-check (`rota doctor`).
 * `withheldEnv`: the variables the command must not inherit (`BackendContext.withheldEnv`).
 */
export function withPostInstall(
  backend: InstallBackend,
  who: string,
  cmd: Command | undefined,
  certDir: (certId: string) => string,
  withheldEnv: BackendContext["withheldEnv"],
): InstallBackend {
  if (!cmd) return backend;
  const wrapped: InstallBackend = {
    name: backend.name,
    async install(req, signal) {
      await backend.install(req, signal);
      await runCommand(who, cmd, { env: postInstallEnv(req, certDir(req.certId)), withheld: withheldEnv(), signal });
    },
    ...(isCheckable(backend) && { check: (signal: AbortSignal, ctx: CheckContext) => backend.check(signal, ctx) }),
  };
  if (!canReadBack(backend)) return wrapped;
  const readable: ReadableInstall = { ...wrapped, readBack: (certId, signal, opts) => backend.readBack(certId, signal, opts) };
  if (!hasChangeHints(backend)) return readable;
  // The command changes nothing the read-back reads: the backend's change hints still tell it all.
  const hinted: HintedInstall = { ...readable, changesSince: (sweep, since, changed) => backend.changesSince(sweep, since, changed), recheckAt: (certId, now) => backend.recheckAt(certId, now) };
  return hinted;
}
