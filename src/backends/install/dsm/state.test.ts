/** @module The dsm target's state files: 0600, and owned by the state folder's owner when root writes them (`rota dsm login` run as root). */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DsmState } from "./state.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-dsm-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("DsmState", () => {
  test("device token, latch and kept copy round-trip, each file 0600 in a 0700 folder", () => {
    const state = new DsmState(join(dir, "a"), "nas", "dsm nas");
    expect([state.device(), state.block(), state.installed()]).toEqual([null, null, null]);
    state.saveDevice({ device_id: "dev", device_name: "rota-x" });
    expect(state.setBlock({ code: 400, message: "wrong", at: "2030-01-01T00:00:00.000Z" })).toBe(true);
    expect(state.setBlock({ code: 400, message: "wrong", at: "2030-01-01T00:00:01.000Z" })).toBe(false);
    state.saveInstalled({ cert_id: "www", id: "AbC123", serial: "01", not_after: "2030-01-01T00:00:00.000Z" }, "PEM");
    expect(state.device()).toEqual({ device_id: "dev", device_name: "rota-x" });
    expect(state.installed()).toEqual({ record: { cert_id: "www", id: "AbC123", serial: "01", not_after: "2030-01-01T00:00:00.000Z" }, leafPem: "PEM" });
    for (const f of ["device.json", "auth-blocked.json", "installed.json", "cert.pem"]) expect(statSync(join(state.dir, f)).mode & 0o777).toBe(0o600);
    expect(statSync(state.dir).mode & 0o777).toBe(0o700);
    state.clearBlock();
    expect(state.block()).toBeNull();
  });

  test.if(process.getuid?.() === 0)("written by root into another user's state folder: owned by that user", () => {
    const owned = mkdtempSync(join(dir, "owned-"));
    chownSync(owned, 65534, 65534);
    const state = new DsmState(owned, "nas", "dsm nas");
    state.saveDevice({ device_id: "dev", device_name: "rota-x" });
    for (const p of [join(owned, "dsm"), state.dir, join(state.dir, "device.json")]) expect(statSync(p).uid).toBe(65534);
  });

  test("a file that is not JSON: an error saying what to do", () => {
    const state = new DsmState(join(dir, "c"), "nas", "dsm nas");
    state.saveDevice({ device_id: "dev", device_name: "" });
    writeFileSync(join(state.dir, "device.json"), "{");
    expect(() => state.device()).toThrow(`dsm nas: ${join(state.dir, "device.json")} is not JSON; delete it and run rota dsm login`);
  });
});
