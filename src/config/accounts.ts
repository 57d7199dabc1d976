/** @module Resolves user and group names to ids from /etc/passwd and /etc/group (no libc binding in Bun). */
import { readFileSync } from "node:fs";

/** A numeric id as given, or the id of the named entry in a passwd/group file; undefined if unknown. */
export function lookupId(file: string, nameOrId: string): number | undefined {
  if (/^\d+$/.test(nameOrId)) return Number(nameOrId);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const [name, , id] = line.split(":");
    if (name === nameOrId && id !== undefined && /^\d+$/.test(id)) return Number(id);
  }
  return undefined;
}
