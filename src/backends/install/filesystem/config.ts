/** @module Config keys of an `[[install]] type = "filesystem"` section. */
import { lookupId } from "../../../config/accounts.ts";
import { quote, type Reader } from "../../../config/reader.ts";
import type { ConfiguredFolder } from "../../registry.ts";
import type { Command } from "../command.ts";
import { readCommandTimeout, readPostInstall } from "../command-config.ts";

export interface FilesystemConfig {
  /** Certificates land in `<dir>/<cert id>/`. */
  dir: string;
  uid: number | undefined;
  gid: number | undefined;
  /** `post_install_command`, run by the registry's wrapper (post-install.ts), not by the backend. */
  postInstall?: Command;
}

export function parseFilesystemConfig(r: Reader): FilesystemConfig {
  const files = parseFileSet(r);
  const postInstall = readPostInstall(r, readCommandTimeout(r));
  return { ...files, ...(postInstall && { postInstall }) };
}

/** The keys of where and as whom the files are written, which every target type writing this set reads. */
export function parseFileSet(r: Reader): FilesystemConfig {
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
