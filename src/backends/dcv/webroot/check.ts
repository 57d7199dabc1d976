/** @module The webroot's self-check (`rota doctor`): the service user can write the challenge folder. */
import { join } from "node:path";
import { folderFix, writeProblem } from "../../check-access.ts";
import type { CheckContext, CheckResult } from "../../types.ts";
import type { WebrootConfig } from "./config.ts";

export function checkWebroot(cfg: WebrootConfig, ctx: CheckContext): CheckResult[] {
  const dir = join(cfg.path, ".well-known", "acme-challenge");
  const problem = writeProblem(dir, ctx.user);
  if (problem) return [{ status: "fail", message: problem, ...folderFix(cfg.path, ctx.user) }];
  return [{ status: "ok", message: `${dir} writable by ${ctx.user.name}` }];
}
