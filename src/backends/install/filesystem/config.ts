/** @module Config keys of an `[[install]] type = "filesystem"` section. */
import type { Reader } from "../../../config/reader.ts";
import { lookupId } from "../../../config/accounts.ts";

export interface FilesystemConfig {
  /** Certificates land in `<dir>/<cert id>/`. */
  dir: string;
  uid: number | undefined;
  gid: number | undefined;
}

export function parseFilesystemConfig(r: Reader): FilesystemConfig {
  const dir = r.path("dir", { required: true, ifExists: "directory" });
  const owner = r.string("owner");
  const group = r.string("group");
  const uid = owner === undefined ? undefined : lookupId("/etc/passwd", owner);
  const gid = group === undefined ? undefined : lookupId("/etc/group", group);
  if (owner !== undefined && uid === undefined) r.problem("owner", `no user ${JSON.stringify(owner)} on this system`);
  if (group !== undefined && gid === undefined) r.problem("group", `no group ${JSON.stringify(group)} on this system`);
  return { dir: dir ?? "", uid, gid };
}
