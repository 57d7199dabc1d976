/**
 * @module A cert's key file as the pre-start checks read it: parsed to learn its type,
 * never written, never shown. Shared by the single-node and the cluster-mode checks.
 */
import { readFileSync, statSync } from "node:fs";
import { createPrivateKey, type KeyObject } from "node:crypto";
import { errnoText } from "./paths.ts";

/** A PEM private key is a few kilobytes; a bigger file is not one, and is not read whole. */
const KEY_FILE_MAX = 1024 * 1024;

/** What is at a key path: nothing, a private key, or a file that is not one, or a read that failed. */
export type FoundKey = { state: "absent" } | { state: "key"; key: KeyObject } | { state: "not_a_key" } | { state: "unreadable"; why: string };

export function readKeyFile(path: string): FoundKey {
  let pem: string;
  try {
    // A FIFO or device at key_path would block the read forever: only a regular file is read.
    const st = statSync(path);
    if (!st.isFile() || st.size > KEY_FILE_MAX) return { state: "not_a_key" };
    pem = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { state: "absent" };
    return { state: "unreadable", why: errnoText(err) };
  }
  try {
    return { state: "key", key: createPrivateKey(pem) };
  } catch {
    return { state: "not_a_key" };
  }
}
