/** @module The dsm target's doctor check over the fake DSM: what it sends, that it never latches, and the latch read first. */
import { afterAll, afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dsmEntry, startFakeDsm, type FakeDsm } from "../../../../test/fakes/dsm.ts";
import { systemClock } from "../../../clock.ts";
import { createLogger } from "../../../log.ts";
import type { CheckContext } from "../../types.ts";
import type { DsmConfig } from "./config.ts";
import { createDsmInstall } from "./dsm.ts";
import { DsmState } from "./state.ts";

const PASSWORD = "pw-canary-4d2a61";
const dir = mkdtempSync(join(tmpdir(), "rota-dsm-check-"));
const passwordFile = join(dir, "dsm.pass");
writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const started: FakeDsm[] = [];
afterEach(async () => {
  for (const f of started.splice(0)) await f.stop();
});

const ctx: CheckContext = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
const signal = new AbortController().signal;

async function subject(password = PASSWORD, otp?: string) {
  const fake = await startFakeDsm({ users: [{ account: "rota", password, admin: true, ...(otp !== undefined && { otp }) }], restartMs: 0 });
  started.push(fake);
  const stateDir = mkdtempSync(join(dir, "state-"));
  const cfg: DsmConfig = {
    url: fake.url,
    username: "rota",
    password: { from: "file", path: passwordFile },
    description: "rota",
    certificateId: undefined,
    create: true,
    makeDefault: false,
    deviceName: "rota-test",
    caBundle: undefined,
    tlsServerName: undefined,
    insecureSkipVerify: false,
    timeoutSeconds: 5,
  };
  const events: unknown[] = [];
  const backend = createDsmInstall("nas", cfg, { stateDir, clock: systemClock, log: createLogger({ level: "silent" }), emit: (e) => events.push(e), withheldEnv: () => [] });
  return { fake, stateDir, backend, events };
}

test("login, list, logout: names the entry an install replaces, and the latch state", async () => {
  const s = await subject();
  s.fake.entries.push(dsmEntry({ id: "AbC123", desc: "rota" }));
  const results = await s.backend.check(signal, ctx);
  expect(results).toEqual([
    { status: "ok", message: `logged in to ${s.fake.url} as rota; certificate "rota" id AbC123` },
    { status: "ok", message: "not latched" },
  ]);
  expect(s.fake.requests.map((r) => r.call)).toEqual(["SYNO.API.Info query", "SYNO.API.Auth login", "SYNO.Core.Certificate.CRT list", "SYNO.API.Auth logout"]);
  expect(s.fake.openSessions()).toBe(0);
});

test("no entry yet: will be created", async () => {
  const s = await subject();
  const [first] = await s.backend.check(signal, ctx);
  expect(first).toEqual({ status: "ok", message: `logged in to ${s.fake.url} as rota; certificate "rota" not in DSM: will be created` });
});

test("a bad password is a FAIL that writes no latch and tells nobody", async () => {
  const s = await subject("another-password");
  const results = await s.backend.check(signal, ctx);
  expect(results[0]!.status).toBe("fail");
  expect(results[0]!.message).toStartWith("login refused: dsm nas:");
  expect(results[0]!.hint).toBe("a renewal would latch this target: fix the account or password, then run: rota dsm login nas");
  expect(JSON.stringify(results)).not.toContain(PASSWORD);
  expect(existsSync(join(s.stateDir, "dsm", "nas", "auth-blocked.json"))).toBe(false);
  expect(new DsmState(s.stateDir, "nas", "dsm nas").block()).toBeNull();
  expect(s.events).toEqual([]);
  // A second run logs in again: nothing was latched.
  await s.backend.check(signal, ctx);
  expect(s.fake.calls("SYNO.API.Auth login")).toHaveLength(2);
});

test("the account asks for a 2-step code and no device token is stored: FAIL, the hint a login with --otp", async () => {
  const s = await subject(PASSWORD, "123456");
  const [first] = await s.backend.check(signal, ctx);
  expect(first!.message).toBe("login refused: dsm nas: SYNO.API.Auth login: 2-step verification code needed (403)");
  expect(first!.hint).toBe("a renewal would latch this target: log in with a current 2-step verification code, which stores a new device token: rota dsm login nas --otp CODE");
  expect(new DsmState(s.stateDir, "nas", "dsm nas").block()).toBeNull();
});

test("a latched target is a FAIL and DSM is not contacted", async () => {
  const s = await subject();
  new DsmState(s.stateDir, "nas", "dsm nas").setBlock({ code: 400, message: "wrong password", at: "2030-01-01T00:00:00.000Z" });
  const results = await s.backend.check(signal, ctx);
  expect(results).toEqual([
    {
      status: "fail",
      message: "latched: login refused at 2030-01-01T00:00:00.000Z (wrong password); nothing is sent to DSM until `rota dsm login nas` succeeds",
      hint: "fix the account or password, then run: rota dsm login nas",
    },
  ]);
  expect(s.fake.requests).toEqual([]);
});

// An independent tester's finding: a latch from 2-step verification or a revoked device token said to fix the password.
test("latched by a 2-step code or device token (403, 404) or 2-step not set up (406): the hint is a login with --otp, not the password", async () => {
  const s = await subject();
  const state = new DsmState(s.stateDir, "nas", "dsm nas");
  const hintFor = async (code: number, message: string) => {
    state.setBlock({ code, message, at: "2030-01-01T00:00:00.000Z" });
    return (await s.backend.check(signal, ctx))[0]!.hint;
  };
  const otp = "log in with a current 2-step verification code, which stores a new device token: rota dsm login nas --otp CODE";
  expect(await hintFor(403, "device token rejected (expired or revoked)")).toBe(otp);
  expect(await hintFor(403, "2-step verification code needed")).toBe(otp);
  expect(await hintFor(404, "wrong 2-step verification code")).toBe(otp);
  expect(await hintFor(406, "2-step verification is enforced but not set up for this account")).toBe("set up 2-step verification for the account in DSM (Personal › Security), then: rota dsm login nas --otp CODE");
  expect(await hintFor(401, "the account is disabled")).toBe("enable the account in DSM, then run: rota dsm login nas");
  expect(await hintFor(409, "the password has expired and must be changed")).toBe("change the account's password in DSM and in password_file or password_env, then run: rota dsm login nas");
  expect(s.fake.requests).toEqual([]);
});

test("offline: skipped, nothing sent", async () => {
  const s = await subject();
  expect(await s.backend.check(signal, { ...ctx, offline: true })).toEqual([
    { status: "skip", message: `offline: ${s.fake.url} not contacted` },
    { status: "ok", message: "not latched" },
  ]);
  expect(s.fake.requests).toEqual([]);
});
