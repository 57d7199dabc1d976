/** @module Config keys of an `[[install]] type = "nginx"` section: the filesystem set's keys, then nginx's commands. */
import type { Reader } from "../../../config/reader.ts";
import type { Command } from "../command.ts";
import { readCommand, readCommandTimeout, readPostInstall } from "../command-config.ts";
import { parseFileSet, type FilesystemConfig } from "../filesystem/config.ts";

export interface NginxConfig extends FilesystemConfig {
  /** Checks the config with the new files in place; a failure puts the old ones back. */
  test: Command;
  /** Makes nginx read them, without a restart. */
  reload: Command;
  /** Also writes `<dir>/<cert id>/combined.pem`: key, leaf and chain in one file. */
  combined: boolean;
}

const DEFAULT_TEST = ["nginx", "-t"];
const DEFAULT_RELOAD = ["nginx", "-s", "reload"];

export function parseNginxConfig(r: Reader): NginxConfig {
  const files = parseFileSet(r);
  const timeout = readCommandTimeout(r);
  // A command already reported as a problem never runs: the config is refused.
  const unusable = (key: string): Command => ({ key, argv: [], timeoutSeconds: timeout });
  const test = readCommand(r, "test_command", timeout, DEFAULT_TEST) ?? unusable("test_command");
  const reload = readCommand(r, "reload_command", timeout, DEFAULT_RELOAD) ?? unusable("reload_command");
  const combined = r.bool("combined", false);
  const postInstall = readPostInstall(r, timeout);
  return { ...files, test, reload, combined, ...(postInstall && { postInstall }) };
}
