/** @module installedOf: what /pem serves follows what the targets hold, recorded by the store or seen by the last look. */
import { expect, test } from "bun:test";
import type { CertLook } from "../scheduler/scheduler.ts";
import type { IssuedCert } from "../store/types.ts";
import { installedOf } from "./installed-pem.ts";

const cert = (serial: string, day: number): IssuedCert => ({
  certId: "www",
  renewalId: `r-${serial}`,
  leafPem: `leaf ${serial}`,
  chainPem: "chain",
  serial,
  notBefore: new Date(Date.UTC(2030, 0, day)),
  notAfter: new Date(Date.UTC(2030, 3, day)),
  issuedAt: new Date(Date.UTC(2030, 0, day)),
});
const look = (...serials: (string | null)[]): CertLook =>
  ({ targets: serials.map((s, i) => ({ target: `t${i}`, installed: s === null ? null : { serial: s } })) }) as unknown as CertLook;

const old = cert("01", 1);
const latest = cert("02", 2);

test("the newest recorded install", () => {
  expect(installedOf([old, null], latest, look("01", null))).toBe(old);
});

test("the newest stored certificate once a target serves it, though its install was not recorded (a post_install_command failed)", () => {
  expect(installedOf([null], latest, look("02"))).toBe(latest);
  expect(installedOf([old], latest, look("02"))).toBe(latest);
});

test("nothing recorded and no target serving the newest: nothing (a 404, and no download link)", () => {
  expect(installedOf([null, null], latest, look(null, "ff"))).toBeNull();
  expect(installedOf([null], latest, undefined)).toBeNull();
  expect(installedOf([null], null, look("02"))).toBeNull();
});
