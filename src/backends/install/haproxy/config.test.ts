/** @module The haproxy section's own keys: defaults, socket forms, and each refusal named by its key. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Problems, Reader } from "../../../config/reader.ts";
import { parseHaproxyConfig, type HaproxyConfig } from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-haproxy-config-"));
mkdirSync(join(dir, "certs"));
writeFileSync(join(dir, "plain-file"), "");
const live = createServer();
await new Promise<void>((resolve) => live.listen(join(dir, "admin.sock"), resolve));
afterAll(() => {
  live.close();
  rmSync(dir, { recursive: true, force: true });
});

function parse(table: Record<string, unknown>): { cfg: HaproxyConfig; problems: string[] } {
  const problems = new Problems();
  const r = new Reader(table, "install[1]", { problems, baseDir: dir, env: { PATH: "/usr/bin:/bin" } });
  const cfg = parseHaproxyConfig(r);
  r.finish();
  return { cfg, problems: problems.list };
}

describe("parseHaproxyConfig", () => {
  test("defaults: no commands, a 30 s command timeout; sockets as absolute paths and host:port", () => {
    expect(parse({ dir: "certs", sockets: [join(dir, "admin.sock"), "/run/haproxy/not-yet.sock", "127.0.0.1:9999", "[::1]:9999", "lb.internal:9999"] })).toEqual({
      cfg: {
        dir: join(dir, "certs"),
        sockets: [
          { kind: "unix", path: join(dir, "admin.sock") },
          { kind: "unix", path: "/run/haproxy/not-yet.sock" },
          { kind: "tcp", host: "127.0.0.1", port: 9999 },
          { kind: "tcp", host: "::1", port: 9999 },
          { kind: "tcp", host: "lb.internal", port: 9999 },
        ],
      },
      problems: [],
    });
  });

  test("every key set; sockets = [] with a reload_command", () => {
    const { cfg, problems } = parse({
      dir: "certs",
      sockets: [],
      reload_command: ["/bin/systemctl", "reload", "haproxy"],
      post_install_command: ["true"],
      command_timeout_seconds: 5,
    });
    expect(problems).toEqual([]);
    expect(cfg).toEqual({
      dir: join(dir, "certs"),
      sockets: [],
      reload: { key: "reload_command", argv: ["/bin/systemctl", "reload", "haproxy"], timeoutSeconds: 5 },
      postInstall: { key: "post_install_command", argv: ["true"], timeoutSeconds: 5 },
    });
  });

  test("refusals, each named by its key", () => {
    expect(parse({ dir: "plain-file", sockets: [join(dir, "plain-file"), "127.0.0.1:99999", 3], reload_command: [], post_install_command: ["no-such-command-rota", "x"] }).problems).toEqual([
      `install[1].dir: ${join(dir, "plain-file")} exists and is not a directory`,
      "install[1].sockets[2]: must be a non-empty string",
      `install[1].sockets[0]: ${join(dir, "plain-file")} exists and is not a socket`,
      'install[1].sockets[1]: "127.0.0.1:99999": port must be between 1 and 65535',
      "install[1].reload_command: must list the command and its arguments, not be empty",
      'install[1].post_install_command: "no-such-command-rota" is not found on PATH',
    ]);
  });

  test("a socket that is neither host:port nor an absolute path: refused naming the entry, and nothing said about the list being empty", () => {
    expect(parse({ dir: "certs", sockets: ["127.0.0.1:notaport"] }).problems).toEqual([
      'install[1].sockets[0]: "127.0.0.1:notaport" is not host:port (the port a number from 1 to 65535), nor an absolute socket path',
    ]);
    expect(parse({ dir: "certs", sockets: ["admin.sock"] }).problems).toEqual([
      'install[1].sockets[0]: "admin.sock" is a relative path: give the socket\'s absolute path, as HAProxy\'s "stats socket" line names it, or host:port',
    ]);
    expect(parse({ dir: "certs", sockets: ["run/haproxy/admin.sock", "lb:"] }).problems).toEqual([
      'install[1].sockets[0]: "run/haproxy/admin.sock" is a relative path: give the socket\'s absolute path, as HAProxy\'s "stats socket" line names it, or host:port',
      'install[1].sockets[1]: "lb:" is not host:port (the port a number from 1 to 65535), nor an absolute socket path',
    ]);
    expect(parse({ dir: "certs", sockets: ["127.0.0.1:0"] }).problems).toEqual(['install[1].sockets[0]: "127.0.0.1:0": port must be between 1 and 65535']);
    expect(parse({ dir: "certs", sockets: [join(dir, "plain-file")] }).problems).toEqual([`install[1].sockets[0]: ${join(dir, "plain-file")} exists and is not a socket`]);
  });

  test("sockets required, and empty only with a reload_command; no whitespace in dir", () => {
    expect(parse({ dir: "certs" }).problems).toEqual(['install[1].sockets: is required: the runtime API sockets ("stats socket … level admin"), or [] with reload_command']);
    expect(parse({ dir: "certs", sockets: [] }).problems).toEqual(["install[1].sockets: is empty: list the runtime API sockets, or set reload_command"]);
    expect(parse({ dir: "my certs", sockets: [], reload_command: ["true"] }).problems).toEqual([
      `install[1].dir: ${JSON.stringify(join(dir, "my certs"))} holds whitespace, which HAProxy's runtime API cannot take in a path`,
    ]);
  });
});
