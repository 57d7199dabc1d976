/** @module Config keys of an `[[install]] type = "filesystem"` section. */
import { lookupId } from "../../../config/accounts.ts";
import { quote, type Reader } from "../../../config/reader.ts";
import type { ConfiguredFolder } from "../../registry.ts";

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
  if (owner !== undefined && uid === undefined) r.problem("owner", `no user ${quote(owner)} on this system`);
  if (group !== undefined && gid === undefined) r.problem("group", `no group ${quote(group)} on this system`);
  return { dir: dir ?? "", uid, gid };
}

/** Each cert's `privkey.pem` lands in `<dir>/<cert id>/`. */
export function filesystemKeyFolders(c: FilesystemConfig): ConfiguredFolder[] {
  return [{ key: "dir", path: c.dir }];
}
