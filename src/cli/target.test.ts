/** @module Which daemon a client talks to: `daemon.socket` found in a config broken elsewhere, and `--url` with its token. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { endpoint, socketSetting } from "./target.ts";

test("a valid config: the value as TOML has it", () => {
  expect(socketSetting('[daemon]\nsocket = "rota.sock"\n')).toBe("rota.sock");
  expect(socketSetting('daemon.socket = "/run/x.sock"\n')).toBe("/run/x.sock");
  expect(socketSetting('[daemon]\nstate_dir = "/var/lib/rota"\n')).toBeUndefined();
});

test("a syntax error elsewhere does not hide the socket", () => {
  const text = ['[daemon]', 'socket = "rota.sock" # beside the config', 'state_dir = "state', "", "[[cert]]", 'id = "www"', "domains = [", ""].join("\n");
  expect(socketSetting(text)).toBe("rota.sock");
  expect(socketSetting('oops = \ndaemon.socket = "/run/x.sock"\n')).toBe("/run/x.sock");
});

test("a socket key in another table, or a socket line that is itself broken, is not the daemon's", () => {
  expect(socketSetting('oops =\n[[cert]]\nsocket = "cert.sock"\n[daemon.sub]\nsocket = "sub.sock"\n')).toBeUndefined();
  expect(socketSetting('[daemon]\nsocket = "rota.sock\n')).toBeUndefined();
});

describe("endpoint", () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-target-"));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "a-token-from-a-file\n");

  test("--url with --token-file: the token trimmed, the URL parsed", () => {
    const e = endpoint({ url: "https://nas:8844", "token-file": tokenFile }, {});
    expect(e).toEqual({ kind: "url", url: new URL("https://nas:8844"), token: "a-token-from-a-file", ca: undefined });
  });

  test("ROTA_URL and ROTA_TOKEN from the environment; --socket or --config on the command line beat them", () => {
    const env = { ROTA_URL: "http://127.0.0.1:8844", ROTA_TOKEN: "env-token-value" };
    expect(endpoint({}, env)).toMatchObject({ kind: "url", token: "env-token-value" });
    expect(endpoint({ socket: "/tmp/x.sock" }, env)).toEqual({ kind: "socket", socket: "/tmp/x.sock" });
  });

  test.each([
    [{ url: "https://nas:8844" }, "rota: --url needs the API token: --token-file FILE or the ROTA_TOKEN variable"],
    [{ url: "nas:8844x", "token-file": tokenFile }, "rota: --url must be http:// or https://, not nas:"],
    [{ url: "not a url", "token-file": tokenFile }, 'rota: --url "not a url" is not a URL (e.g. https://nas.example.com:8844)'],
    [{ url: "https://u:p@nas:8844", "token-file": tokenFile }, "rota: --url must not carry credentials; give the token with --token-file or ROTA_TOKEN"],
    [{ url: "https://nas:8844", socket: "/x.sock", "token-file": tokenFile }, "rota: give --url or --socket, not both"],
    [{ "token-file": tokenFile }, "rota: --token-file and --ca-file go with --url (or ROTA_URL)"],
    [{ url: "https://nas:8844", "token-file": join(dir, "absent") }, `rota: --token-file ${join(dir, "absent")}: no such file`],
  ])("%p is a usage error", (args, message) => {
    expect(() => endpoint(args, {})).toThrow(message);
  });
});
