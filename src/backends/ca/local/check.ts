/** @module The local CA's self-check (`rota doctor`): its root and intermediate are readable by the service user, and the root parses. */
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readProblem } from "../../check-access.ts";
import type { CheckContext, CheckResult } from "../../types.ts";

const FILES = ["root.pem", "root.key", "intermediate.pem", "intermediate.key"] as const;

export function checkLocalCa(ownDir: string, ctx: CheckContext): CheckResult[] {
  // Before a daemon moves it (layout.ts), the first local CA's files may still be in the shared folder.
  const shared = dirname(ownDir);
  const dir = !existsSync(join(ownDir, "root.pem")) && existsSync(join(shared, "root.pem")) ? shared : ownDir;
  const root = join(dir, "root.pem");
  if (!existsSync(root)) {
    // A root made on one node would not be the root the others' clients trust: cluster mode never makes one.
    if (ctx.cluster) return [{ status: "fail", message: `no root in ${dir}: in cluster mode rota never creates one`, hint: `copy root.key and root.pem into ${dir} from the node that made them (docs/federation.md)` }];
    return [{ status: "ok", message: `no root in ${dir} yet: the first certificate creates it` }];
  }
  const unreadable = FILES.map((f) => join(dir, f))
    .filter((p) => existsSync(p))
    .map((p) => readProblem(p, ctx.user))
    .filter((p): p is string => p !== undefined);
  if (unreadable.length > 0) return unreadable.map((message) => ({ status: "fail", message, hint: `chown -R ${ctx.user.name} ${dir}` }));
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(root));
  } catch {
    return [{ status: "fail", message: `${root} is not a PEM certificate`, hint: "move the folder aside only if no client trusts this root yet: the next issue creates a new one" }];
  }
  return [{ status: "ok", message: `root ${root} readable (${cert.subject.replace(/\n/g, ", ")}, valid until ${cert.validToDate.toISOString()})` }];
}
