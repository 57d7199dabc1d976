/**
 * @module Reads the bytes of a config file, and only of something that can be one: a
 * regular file of at most 16 MiB. Kept apart from validation so client commands, which
 * read only `daemon.socket`, load no more than this.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { RotaError } from "../errors.ts";
import { errnoText } from "./paths.ts";

/** A config is a few kilobytes; anything this big is a wrong path, and reading it whole would take the memory. */
export const CONFIG_MAX_BYTES = 16 * 1024 * 1024;
const READ_CHUNK = 64 * 1024;

/**
 * The file's bytes. Opened non-blocking so a FIFO cannot stall the open, checked on the
 * open descriptor, and read no further than the limit, so neither `/dev/zero` nor a file
 * growing under us is read without bound. Throws a RotaError("config_unreadable") whose
 * message is the one problem line ("cannot read: not a regular file (a FIFO)").
 */
export function readConfigBytes(file: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw unreadable((err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : errnoText(err), err);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw unreadable("is a folder");
    if (!st.isFile()) throw unreadable(`not a regular file (${fileKind(st)})`);
    if (st.size > CONFIG_MAX_BYTES) throw unreadable(`larger than 16 MiB (${st.size} bytes)`);
    // The size is a hint only: /proc files say 0, and a file may grow while it is read.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // Only the bytes read are ever looked at (`subarray` below), so the buffer need not be zeroed first.
      const chunk = Buffer.allocUnsafe(Math.max(st.size + 1 - total, READ_CHUNK));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > CONFIG_MAX_BYTES) throw unreadable("larger than 16 MiB");
    }
    // One read is the usual case: its bytes are used where they are rather than copied (a 1-MB config: a few ms at a start).
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof RotaError) throw err;
    throw unreadable(errnoText(err), err);
  } finally {
    closeSync(fd);
  }
}

function unreadable(why: string, cause?: unknown): RotaError {
  return new RotaError("config_unreadable", `cannot read: ${why}`, { cause, noRetry: true });
}

function fileKind(st: Stats): string {
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "not a file";
}
