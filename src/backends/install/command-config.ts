/**
 * @module Config keys of the commands an install target runs: an argv key (`test_command =
 * ["nginx", "-t"]`) and the section's `command_timeout_seconds`. A command that cannot run is a
 * config error at start, naming its key, rather than a failed install weeks later.
 */
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { quote, type Reader } from "../../config/reader.ts";
import type { Command } from "./command.ts";

/** `command_timeout_seconds`: how long each of the section's commands may run (default 30). */
export function readCommandTimeout(r: Reader): number {
  return r.int("command_timeout_seconds", { min: 1, max: 3600, fallback: 30 });
}

/**
 * The argv at `key`, or `fallback` when the key is absent (undefined without one). The
 * list must be non-empty strings; argv[0] an absolute path to an executable file, or a name
 * found on the PATH rota runs with. A fallback is checked too: `nginx` missing from PATH
 * is worth knowing before the first renewal.
 */
export function readCommand(r: Reader, key: string, timeoutSeconds: number, fallback?: string[]): Command | undefined {
  const given = r.has(key);
  const list = r.stringList(key);
  if (given && list === undefined) return undefined;
  if (list && !list.complete) return undefined;
  const argv = list ? list.items.map((i) => i.value) : fallback;
  if (argv === undefined) return undefined;
  if (argv.length === 0) {
    r.problem(key, "must list the command and its arguments, not be empty");
    return undefined;
  }
  const problem = executableProblem(argv[0]!, r.ctx.env.PATH ?? "");
  if (problem) {
    r.problem(key, `${problem}${given ? "" : ` (the default ${JSON.stringify(argv)}); set ${key}`}`);
    return undefined;
  }
  return { key, argv, timeoutSeconds };
}

function executableProblem(program: string, path: string): string | null {
  if (isAbsolute(program)) {
    try {
      if (!statSync(program).isFile()) return `${quote(program)} is not a file`;
      accessSync(program, constants.X_OK);
      return null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === "ENOENT" ? `${quote(program)} does not exist` : `${quote(program)} is not executable`;
    }
  }
  if (program.includes("/")) return `${quote(program)} must be an absolute path or a command name found on PATH`;
  return Bun.which(program, { PATH: path }) ? null : `${quote(program)} is not found on PATH`;
}

/** `post_install_command` (optional): run after each successful install, with the cert's facts in its environment (post-install.ts). */
export function readPostInstall(r: Reader, timeoutSeconds: number): Command | undefined {
  return readCommand(r, "post_install_command", timeoutSeconds);
}
