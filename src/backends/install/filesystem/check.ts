/**
 * @module The file-writing targets' shared self-check (`rota doctor`): the service user can
 * write `dir`, and can give the files the `owner`/`group` the section asks for.
 */
import { folderFix, groupsOf, writeProblem } from "../../check-access.ts";
import type { CheckContext, CheckResult } from "../../types.ts";

export function checkWritableDir(dir: string, ctx: CheckContext): CheckResult {
  const problem = writeProblem(dir, ctx.user);
  if (problem) return { status: "fail", message: problem, ...folderFix(dir, ctx.user) };
  return { status: "ok", message: `${dir} writable by ${ctx.user.name}` };
}

/**
 * chown(2) to another user, or to a group the caller is not in, needs CAP_CHOWN: a warning,
 * since doctor cannot see whether the unit grants it (the drop-in does).
 */
export function checkOwnership(owner: { uid: number | undefined; gid: number | undefined }, ctx: CheckContext): CheckResult[] {
  const { user } = ctx;
  if (user.uid === 0) return [];
  const foreignOwner = owner.uid !== undefined && owner.uid !== user.uid;
  const foreignGroup = owner.gid !== undefined && !groupsOf(user).has(owner.gid);
  if (!foreignOwner && !foreignGroup) return [];
  const keys = [...(foreignOwner ? [`owner (uid ${owner.uid})`] : []), ...(foreignGroup ? [`group (gid ${owner.gid})`] : [])].join(" and ");
  // CAP_FOWNER too: chmod(2) of a file another user owns (docs/install.md's drop-in grants both).
  return [{ status: "warn", message: `${keys}: ${user.name} may not give files away without CAP_CHOWN`, hint: "leave owner and group out", dropIn: { paths: [], capabilities: ["CAP_CHOWN", "CAP_FOWNER"] } }];
}
