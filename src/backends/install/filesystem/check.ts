/** @module The file-writing targets' shared self-check (`rota doctor`): the service user can write `dir`. */
import { dropInHint, writeProblem } from "../../check-access.ts";
import type { CheckContext, CheckResult } from "../../types.ts";

export function checkWritableDir(dir: string, ctx: CheckContext): CheckResult {
  const problem = writeProblem(dir, ctx.user);
  if (problem) return { status: "fail", message: problem, hint: dropInHint([dir], ctx.user) };
  return { status: "ok", message: `${dir} writable by ${ctx.user.name}` };
}
