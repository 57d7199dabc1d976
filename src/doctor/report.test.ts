import { expect, test } from "bun:test";
import { exitCode, renderJson, renderText, type Finding } from "./report.ts";

const none = { configInvalid: false, unknownCert: false, daemonUnreachable: false };
const ok: Finding = { id: "state_dir", status: "ok", message: "/var/lib/rota: rota, 0700" };
const warn: Finding = { id: "audit", status: "warn", message: "schema v5, this rota has v6: will migrate on start, after a backup" };
const fail: Finding = { id: "install:files", status: "fail", message: "/etc/nginx/certs is not writable by rota", hint: "first\nsecond" };

test("exit codes: first match wins, in the issue's order", () => {
  expect(exitCode([ok, warn], none)).toBe(0);
  expect(exitCode([ok, fail], none)).toBe(1);
  expect(exitCode([ok], { ...none, daemonUnreachable: true })).toBe(3);
  expect(exitCode([fail], { ...none, daemonUnreachable: true })).toBe(1);
  expect(exitCode([fail], { ...none, unknownCert: true, daemonUnreachable: true })).toBe(4);
  expect(exitCode([fail], { configInvalid: true, unknownCert: true, daemonUnreachable: true })).toBe(2);
});

test("text: one line per check, FAIL in capitals, a hint's lines under it", () => {
  expect(renderText([ok, fail]).split("\n")).toEqual([
    "ok  state_dir  /var/lib/rota: rota, 0700",
    "FAIL  install:files  /etc/nginx/certs is not writable by rota",
    "hint: first",
    "      second",
  ]);
});

test("json: the issue's shape, hint null when absent", () => {
  expect(JSON.parse(renderJson([ok, fail], 1))).toEqual({
    ok: false,
    exit_code: 1,
    checks: [
      { id: "state_dir", status: "ok", message: "/var/lib/rota: rota, 0700", hint: null },
      { id: "install:files", status: "fail", message: "/etc/nginx/certs is not writable by rota", hint: "first\nsecond" },
    ],
  });
  expect(JSON.parse(renderJson([], 0)).ok).toBe(true);
});
