/** @module Command keys of install sections: what is accepted, and each refusal word for word under its key path. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Problems, Reader } from "../../config/reader.ts";
import { parseFilesystemConfig } from "./filesystem/config.ts";
import { readCommand, readCommandTimeout } from "./command-config.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-command-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(dir, "bin");
mkdirSync(bin);
writeFileSync(join(bin, "reloader"), "#!/bin/sh\n", { mode: 0o755 });
writeFileSync(join(dir, "plain"), "not executable\n", { mode: 0o644 });
chmodSync(join(dir, "plain"), 0o644);

function read(table: Record<string, unknown>, fallback?: string[]) {
  const problems = new Problems();
  const r = new Reader(table, "install[0]", { problems, baseDir: dir, env: { PATH: bin } });
  const cmd = readCommand(r, "reload_command", readCommandTimeout(r), fallback);
  return { cmd, problems: problems.list };
}

describe("readCommand", () => {
  test("a name found on PATH, kept as written; the section's timeout, 30 s by default", () => {
    expect(read({ reload_command: ["reloader", "-s", "reload"] })).toEqual({ cmd: { key: "reload_command", argv: ["reloader", "-s", "reload"], timeoutSeconds: 30 }, problems: [] });
  });

  test("an absolute path to an executable, and command_timeout_seconds", () => {
    const argv = [join(bin, "reloader")];
    expect(read({ reload_command: argv, command_timeout_seconds: 5 })).toEqual({ cmd: { key: "reload_command", argv, timeoutSeconds: 5 }, problems: [] });
  });

  test("absent: the fallback, or nothing", () => {
    expect(read({}, ["reloader"]).cmd).toEqual({ key: "reload_command", argv: ["reloader"], timeoutSeconds: 30 });
    expect(read({})).toEqual({ cmd: undefined, problems: [] });
  });

  test.each([
    [{ reload_command: [] }, 'install[0].reload_command: must list the command and its arguments, not be empty'],
    [{ reload_command: "reloader -s reload" }, "install[0].reload_command: must be a list of strings, not a string"],
    [{ reload_command: ["reloader", 3] }, "install[0].reload_command[1]: must be a non-empty string"],
    [{ reload_command: ["nginx"] }, 'install[0].reload_command: "nginx" is not found on PATH'],
    [{ reload_command: ["bin/reloader"] }, 'install[0].reload_command: "bin/reloader" must be an absolute path or a command name found on PATH'],
    [{ reload_command: [join(dir, "missing")] }, `install[0].reload_command: "${join(dir, "missing")}" does not exist`],
    [{ reload_command: [join(dir, "plain")] }, `install[0].reload_command: "${join(dir, "plain")}" is not executable`],
    [{ reload_command: [bin] }, `install[0].reload_command: "${bin}" is not a file`],
    [{ reload_command: ["reloader"], command_timeout_seconds: 0 }, "install[0].command_timeout_seconds: must be between 1 and 3600"],
  ])("%j is refused", (table, problem) => {
    expect(read(table).problems).toEqual([problem]);
  });

  test("a default that is not on PATH is refused too, saying it was the default", () => {
    expect(read({}, ["nginx", "-t"]).problems).toEqual(['install[0].reload_command: "nginx" is not found on PATH (the default ["nginx","-t"]); set reload_command']);
  });
});

describe("post_install_command on a filesystem target", () => {
  const parse = (table: Record<string, unknown>) => {
    const problems = new Problems();
    const r = new Reader({ dir: join(dir, "out"), ...table }, "install[0]", { problems, baseDir: dir, env: { PATH: bin } });
    const cfg = parseFilesystemConfig(r);
    r.finish();
    return { cfg, problems: problems.list };
  };

  test("optional; with command_timeout_seconds", () => {
    expect(parse({}).cfg.postInstall).toBeUndefined();
    expect(parse({ post_install_command: ["reloader", "postfix"], command_timeout_seconds: 9 })).toEqual({
      cfg: { dir: join(dir, "out"), uid: undefined, gid: undefined, postInstall: { key: "post_install_command", argv: ["reloader", "postfix"], timeoutSeconds: 9 } },
      problems: [],
    });
  });

  test("refused like any command", () => {
    expect(parse({ post_install_command: ["systemctl-nope"] }).problems).toEqual(['install[0].post_install_command: "systemctl-nope" is not found on PATH']);
  });
});
