/** @module The nginx section's keys: the filesystem set's, the two commands with their defaults, combined. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Problems, Reader } from "../../../config/reader.ts";
import { parseNginxConfig } from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-nginx-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(dir, "bin");
mkdirSync(bin);
writeFileSync(join(bin, "nginx"), "#!/bin/sh\n", { mode: 0o755 });

function parse(table: Record<string, unknown>, path = bin) {
  const problems = new Problems();
  const r = new Reader({ dir: join(dir, "certs"), ...table }, "install[1]", { problems, baseDir: dir, env: { PATH: path } });
  const cfg = parseNginxConfig(r);
  r.finish();
  return { cfg, problems: problems.list };
}

describe("parseNginxConfig", () => {
  test("defaults: nginx -t, nginx -s reload, 30 s, not combined, no deploy hook", () => {
    expect(parse({})).toEqual({
      cfg: {
        dir: join(dir, "certs"),
        uid: undefined,
        gid: undefined,
        test: { key: "test_command", argv: ["nginx", "-t"], timeoutSeconds: 30 },
        reload: { key: "reload_command", argv: ["nginx", "-s", "reload"], timeoutSeconds: 30 },
        combined: false,
      },
      problems: [],
    });
  });

  test("every key set", () => {
    const { cfg, problems } = parse({
      test_command: ["/bin/true"],
      reload_command: ["nginx", "-s", "reload", "-c", "/etc/nginx/alt.conf"],
      combined: true,
      command_timeout_seconds: 5,
      post_install_command: ["/bin/echo", "done"],
    });
    expect(problems).toEqual([]);
    expect(cfg).toMatchObject({
      test: { argv: ["/bin/true"], timeoutSeconds: 5 },
      reload: { argv: ["nginx", "-s", "reload", "-c", "/etc/nginx/alt.conf"], timeoutSeconds: 5 },
      combined: true,
      postInstall: { key: "post_install_command", argv: ["/bin/echo", "done"], timeoutSeconds: 5 },
    });
  });

  test("nginx not on PATH: both defaults refused, each under its key", () => {
    expect(parse({}, "/nonexistent").problems).toEqual([
      'install[1].test_command: "nginx" is not found on PATH (the default ["nginx","-t"]); set test_command',
      'install[1].reload_command: "nginx" is not found on PATH (the default ["nginx","-s","reload"]); set reload_command',
    ]);
  });

  test("an empty test_command, combined not a boolean, and an unknown key", () => {
    expect(parse({ test_command: [], combined: "yes", reload: ["nginx"] }).problems).toEqual([
      "install[1].test_command: must list the command and its arguments, not be empty",
      "install[1].combined: must be true or false, not a string",
      expect.stringContaining("install[1].reload"),
    ]);
  });
});
