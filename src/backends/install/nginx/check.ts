/**
 * @module nginx's self-check (`rota doctor`): `dir` writable by the service user, `test_command`
 * passes (it changes nothing), and what `nginx -t` and `nginx -s reload` need as that user.
 */
import { basename } from "node:path";
import { describeError } from "../../../errors.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import { runCommand, type Command } from "../command.ts";
import { checkOwnership, checkWritableDir } from "../filesystem/check.ts";
import type { NginxConfig } from "./config.ts";

/** `withheld`: the variables `test_command` must not inherit, as in a renewal (`RunOptions.withheld`). */
export async function checkNginx(name: string, cfg: NginxConfig, signal: AbortSignal, ctx: CheckContext, withheld: readonly string[]): Promise<CheckResult[]> {
  const test = `${cfg.test.key} ${JSON.stringify(cfg.test.argv)}`;
  let tested: CheckResult;
  try {
    await runCommand(`nginx ${name}`, cfg.test, { withheld, signal });
    tested = { status: "ok", message: `${test} passed` };
  } catch (err) {
    tested = { status: "fail", message: describeError(err), hint: "fix nginx's configuration until the test passes: a renewal would fail at this step and put the old files back" };
  }
  return [checkWritableDir(cfg.dir, ctx), ...checkOwnership({ uid: cfg.uid, gid: cfg.gid }, ctx), tested, ...checkTestAsUser(cfg.test, ctx), ...checkReloadSignal(cfg.reload, ctx)];
}

/**
 * Doctor runs `test_command` as itself; under the unit, `nginx -t` runs as the service user
 * and opens its pid file and logs for writing and binds the listen ports (measured on nginx
 * 1.22: EACCES/EROFS on /run/nginx.pid and /var/log/nginx, EACCES binding :80). A warning:
 * doctor cannot see what the unit grants.
 */
function checkTestAsUser(test: Command, ctx: CheckContext): CheckResult[] {
  const [bin, ...args] = test.argv;
  if (ctx.user.uid === 0 || bin === undefined || basename(bin) !== "nginx" || !args.includes("-t")) return [];
  return [
    {
      status: "warn",
      message: `${test.key} ${JSON.stringify(test.argv)} runs as ${ctx.user.name} under the unit: nginx -t opens its pid file and logs for writing and binds the listen ports`,
      hint: 'set test_command = ["true"] to install without nginx -t checking the configuration first (docs/install.md)',
      dropIn: { paths: ["/var/log/nginx", "/run"], capabilities: ["CAP_DAC_OVERRIDE", "CAP_NET_BIND_SERVICE"] },
    },
  ];
}

/**
 * `nginx -s reload` signals nginx's master, which kill(2) refuses across users without
 * CAP_KILL (docs/install.md's drop-in). A warning: doctor cannot see whether the unit grants it.
 */
function checkReloadSignal(reload: Command, ctx: CheckContext): CheckResult[] {
  const [bin, ...args] = reload.argv;
  if (ctx.user.uid === 0 || bin === undefined || basename(bin) !== "nginx" || !args.includes("-s")) return [];
  return [
    {
      status: "warn",
      message: `${reload.key} ${JSON.stringify(reload.argv)} signals nginx's master as ${ctx.user.name}: a master running as root needs CAP_KILL`,
      dropIn: { paths: [], capabilities: ["CAP_KILL"] },
    },
  ];
}
