/** @module The service user doctor judges permissions for: `--user NAME`, else the owner of `state_dir`. */
import { readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { nearestExisting } from "../config/paths.ts";
import type { ServiceUser } from "../backends/check-access.ts";

/** The passwd entry named `nameOrUid` (a name or a numeric uid), or undefined. */
export function lookupUser(nameOrUid: string, passwdFile = "/etc/passwd"): ServiceUser | undefined {
  let text = "";
  try {
    text = readFileSync(passwdFile, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === undefined || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    if (name === nameOrUid || uid === nameOrUid) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * The owner of `stateDir` (of the folder it would be created in, when missing), named from
 * /etc/passwd; an owner without an entry keeps its number as its name.
 */
export function stateDirOwner(stateDir: string, passwdFile = "/etc/passwd"): ServiceUser {
  const at = nearestExisting(stateDir) ?? dirname(stateDir);
  const st = statSync(at);
  return lookupUser(String(st.uid), passwdFile) ?? { name: String(st.uid), uid: st.uid, gid: st.gid };
}
