/**
 * @module What the service user may do with a path, for `rota doctor`, which often runs as
 * root on behalf of a daemon that does not. Decided from the mode bits, the owner and the
 * user's groups (access(2) answers only for the calling process); when doctor runs as the
 * service user itself, access(2) is asked too, so a read-only mount is seen.
 */
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { errnoText, nearestExisting } from "../config/paths.ts";
import type { CheckContext, CheckResult } from "./types.ts";

export type ServiceUser = CheckContext["user"];

/** Read, write, execute (search, for a folder): the bits of one class in a mode. */
export const R = 4;
export const W = 2;
export const X = 1;

/**
 * Whether a file with `owner`, `group` and `mode` grants `want` (R|W|X) to a user with
 * `uid` in `groups`: the owner's class if the user owns it, else the group's if a member,
 * else others' (POSIX picks one class, never the best of three). Root passes, as the kernel
 * lets it (execute on a plain file only when some x bit is set).
 */
export function permits(st: { uid: number; gid: number; mode: number }, user: { uid: number; groups: ReadonlySet<number> }, want: number, isDir: boolean): boolean {
  if (user.uid === 0) return (want & X) === 0 || isDir || (st.mode & 0o111) !== 0;
  const bits = st.uid === user.uid ? (st.mode >> 6) & 7 : user.groups.has(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & want) === want;
}

/** The user's primary group and every group in /etc/group that lists it as a member. */
export function groupsOf(user: ServiceUser, groupFile = "/etc/group"): Set<number> {
  const groups = new Set([user.gid]);
  let text = "";
  try {
    text = readFileSync(groupFile, "utf8");
  } catch {
    return groups;
  }
  for (const line of text.split("\n")) {
    const [, , gid, members] = line.split(":");
    if (gid !== undefined && /^\d+$/.test(gid) && (members ?? "").split(",").includes(user.name)) groups.add(Number(gid));
  }
  return groups;
}

/**
 * Why `user` could not create files in `dir` (or in the folder it would be created in, when
 * missing), or undefined when it can. Needs write and search on that folder.
 */
export function writeProblem(dir: string, user: ServiceUser): string | undefined {
  const at = nearestExisting(dir);
  const prefix = at === dir ? "" : `cannot create ${dir}: `;
  if (at === undefined) return `${prefix}no folder above it exists`;
  const st = statSync(at);
  if (!st.isDirectory()) return `${prefix}${at} is not a folder`;
  if (!permits(st, { uid: user.uid, groups: groupsOf(user) }, W | X, true)) {
    return `${prefix}${at} (${ownerText(st)}, ${modeText(st.mode)}) is not writable by ${user.name}`;
  }
  if (process.getuid?.() === user.uid) {
    try {
      accessSync(at, constants.W_OK | constants.X_OK);
    } catch (err) {
      return `${prefix}${at} is not writable (${errnoText(err)})`;
    }
  }
  return undefined;
}

/** Why `user` could not read the file at `path`, or undefined when it can. */
export function readProblem(path: string, user: ServiceUser): string | undefined {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    return `cannot read ${path} (${errnoText(err)})`;
  }
  if (!permits(st, { uid: user.uid, groups: groupsOf(user) }, R, st.isDirectory())) return `${path} (${ownerText(st)}, ${modeText(st.mode)}) is not readable by ${user.name}`;
  return undefined;
}

export function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

function ownerText(st: { uid: number; gid: number }): string {
  return `owner ${st.uid}:${st.gid}`;
}

/** The capabilities docs/install.md's drop-in grants for writing a target's folder (issue 15 §3). */
export const FOLDER_CAPABILITIES = ["CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER", "CAP_KILL"] as const;

/**
 * The fixes for a `folder` the service user cannot write: giving it to the user's primary
 * group, or the drop-in (docs/install.md, "Writing into nginx or HAProxy folders") that
 * doctor merges with the other findings' into one.
 */
export function folderFix(folder: string, user: ServiceUser, groupFile = "/etc/group"): Pick<CheckResult, "hint" | "dropIn"> {
  const group = groupName(user.gid, groupFile);
  return {
    // ProtectSystem=strict mounts every folder outside ReadWritePaths= read-only, whatever its group.
    hint: `give the folder to the service user's group (chgrp ${group} ${folder} && chmod 2770 ${folder}; under systemd the drop-in's ReadWritePaths= is still needed, its capabilities are not)`,
    dropIn: { paths: [folder], capabilities: FOLDER_CAPABILITIES },
  };
}

/** The name /etc/group gives `gid` (nobody's primary group is nogroup on Debian), else the number. */
export function groupName(gid: number, groupFile = "/etc/group"): string {
  let text = "";
  try {
    text = readFileSync(groupFile, "utf8");
  } catch {
    return String(gid);
  }
  for (const line of text.split("\n")) {
    const [name, , id] = line.split(":");
    if (name && id === String(gid)) return name;
  }
  return String(gid);
}
