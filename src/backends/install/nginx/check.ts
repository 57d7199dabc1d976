/** @module nginx's self-check (`rota doctor`): `dir` writable by the service user, and `test_command` passes (it changes nothing). */
import { describeError } from "../../../errors.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import { runCommand } from "../command.ts";
import { checkOwnership, checkWritableDir } from "../filesystem/check.ts";
import type { NginxConfig } from "./config.ts";

export async function checkNginx(name: string, cfg: NginxConfig, signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]> {
  const test = `${cfg.test.key} ${JSON.stringify(cfg.test.argv)}`;
  let tested: CheckResult;
  try {
    await runCommand(`nginx ${name}`, cfg.test, { signal });
    tested = { status: "ok", message: `${test} passed` };
  } catch (err) {
    tested = { status: "fail", message: describeError(err), hint: "fix nginx's configuration until the test passes: a renewal would fail at this step and put the old files back" };
  }
  return [checkWritableDir(cfg.dir, ctx), ...checkOwnership({ uid: cfg.uid, gid: cfg.gid }, ctx), tested];
}
