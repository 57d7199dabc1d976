/** @module Reading the config file: only a regular file of at most 16 MiB is read, and never past that. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIG_MAX_BYTES } from "./file.ts";
import { ConfigError, loadConfig } from "./load.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-load-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(path: string): string[] {
  try {
    loadConfig(path, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("config was accepted");
}

describe("loadConfig refuses what is not a config file", () => {
  test("a character device, read not even once (/dev/zero would never end)", () => {
    expect(problemsOf("/dev/zero")).toEqual(["cannot read: not a regular file (a character device)"]);
  });

  test("a FIFO, without waiting for a writer", () => {
    const fifo = join(dir, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(problemsOf(fifo)).toEqual(["cannot read: not a regular file (a FIFO)"]);
  });

  test("a folder, and a path where nothing is", () => {
    const folder = join(dir, "folder");
    mkdirSync(folder);
    expect(problemsOf(folder)).toEqual(["cannot read: is a folder"]);
    expect(problemsOf(join(dir, "missing.toml"))).toEqual(["cannot read: no such file"]);
  });

  test("a file over 16 MiB; 16 MiB itself is read", () => {
    const big = join(dir, "big.toml");
    writeFileSync(big, "");
    truncateSync(big, CONFIG_MAX_BYTES + 1);
    expect(problemsOf(big)).toEqual([`cannot read: larger than 16 MiB (${CONFIG_MAX_BYTES + 1} bytes)`]);
    // Zero bytes are valid UTF-8 but not TOML: the parser, not the size check, refuses it.
    truncateSync(big, CONFIG_MAX_BYTES);
    expect(problemsOf(big)[0]).toStartWith("line 1, column 1:");
  });

  test("a file that says it is empty is read to its end (/proc files report size 0)", () => {
    expect(problemsOf("/proc/self/cmdline")[0]).not.toStartWith("cannot read");
  });
});
