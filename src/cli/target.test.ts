/** @module socketSetting: `daemon.socket` found in a config that is broken elsewhere. */
import { expect, test } from "bun:test";
import { socketSetting } from "./target.ts";

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
