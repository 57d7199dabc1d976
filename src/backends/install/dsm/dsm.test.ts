/** @module DsmInstall over the fake DSM: the install contract, the requests it sends, and each trap of issue 14. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dsmEntry, startFakeDsm, type FakeDsm, type FakeDsmUser } from "../../../../test/fakes/dsm.ts";
import { systemClock } from "../../../clock.ts";
import type { RotaEvent } from "../../../events.ts";
import { createLogger } from "../../../log.ts";
import type { ReadableInstall } from "../../types.ts";
import { makeInstallFixtures, runInstallContract, type InstallFixtures } from "../contract.ts";
import type { DsmConfig } from "./config.ts";
import { createDsmInstall } from "./dsm.ts";
import type { DsmApiError } from "./client.ts";
import { dsmLogin } from "./login.ts";
import { clientFor } from "./session.ts";

const PASSWORD = "pw-canary-7c1e9b";
const dir = mkdtempSync(join(tmpdir(), "rota-dsm-"));
const passwordFile = join(dir, "dsm.pass");
writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const admin = (over: Partial<FakeDsmUser> = {}): FakeDsmUser => ({ account: "rota", password: PASSWORD, admin: true, ...over });
const signal = new AbortController().signal;

let fx: InstallFixtures;
beforeAll(async () => {
  fx = await makeInstallFixtures(mkdtempSync(join(dir, "ca-")));
});

interface Subject {
  fake: FakeDsm;
  backend: ReadableInstall;
  stateDir: string;
  events: RotaEvent[];
  logs: string[];
  cfg: DsmConfig;
  /** A new backend on the same state, as after a restart of rota. */
  again(): ReadableInstall;
}

const started: FakeDsm[] = [];
afterEach(async () => {
  for (const f of started.splice(0)) await f.stop();
});

function config(fake: FakeDsm, over: Partial<DsmConfig> = {}): DsmConfig {
  return {
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
    ...over,
  };
}

async function subject(opts: { users?: FakeDsmUser[]; https?: boolean; restartMs?: number; cfg?: Partial<DsmConfig> } = {}): Promise<Subject> {
  const fake = await startFakeDsm({ users: opts.users ?? [admin()], https: opts.https, restartMs: opts.restartMs ?? 200 });
  started.push(fake);
  const stateDir = mkdtempSync(join(dir, "state-"));
  const events: RotaEvent[] = [];
  const logs: string[] = [];
  const log = createLogger({ format: "text", tty: false, write: (l) => logs.push(l) });
  const cfg = config(fake, opts.cfg);
  const make = () => createDsmInstall("nas", cfg, { stateDir, clock: systemClock, log, emit: (e) => events.push(e), withheldEnv: () => [] });
  return { fake, backend: make(), stateDir, events, logs, cfg, again: make };
}

const loginResult = (s: Subject, otp = async () => "000000") => dsmLogin("nas", s.cfg, { stateDir: s.stateDir, clock: systemClock, log: createLogger({ level: "silent" }), otp }, signal);
/** The line `rota dsm login` prints, where installs will not refuse the entry. */
const login = async (s: Subject, otp?: () => Promise<string>) => {
  const r = await loginResult(s, otp);
  expect(r.refusal).toBeNull();
  return r.line;
};
const failure = (p: Promise<unknown>) => p.then(() => null, (err: unknown) => err as { code: string; message: string; noRetry: boolean });

runInstallContract(
  "dsm over the fake DSM",
  true,
  async () => {
    const s = await subject();
    return {
      backend: s.backend,
      // An edit in DSM's UI: another certificate imported into rota's entry.
      damage: () => {
        for (const e of s.fake.entries) e.valid_till = "Jan  1 00:00:00 2040 GMT";
      },
      breakTarget: () => s.fake.breakIt(),
      mendTarget: () => s.fake.mend(),
    };
  },
  { breakable: true },
);

describe("dsm: replace in place", () => {
  test("the default entry keeps its id and services; as_default is sent for it; every call as DSM wants it", async () => {
    const s = await subject();
    const services = [{ service: "default", display_name: "DSM Desktop Service" }];
    s.fake.entries.push(dsmEntry({ id: "AbC123", desc: "rota", is_default: true, services }), dsmEntry({ id: "Other1", desc: "synology" }));
    await s.backend.install(fx.first, signal);
    expect(s.fake.entries.find((e) => e.id === "AbC123")).toMatchObject({ desc: "rota", is_default: true, services, certPem: fx.first.leafPem });
    expect(s.fake.entries).toHaveLength(2);
    expect(s.fake.requests.map((r) => r.call)).toEqual([
      "SYNO.API.Info query",
      "SYNO.API.Auth login",
      "SYNO.Core.Certificate.CRT list",
      "SYNO.Core.Certificate import",
      "SYNO.Core.Certificate.CRT list",
      "SYNO.API.Auth logout",
    ]);
    const [info, auth, list, imp] = s.fake.requests;
    expect(info!.query).toEqual({ api: "SYNO.API.Info", version: "1", method: "query", query: "SYNO.API.Auth,SYNO.Core.Certificate,SYNO.Core.Certificate.CRT" });
    expect(auth).toMatchObject({ method: "POST", path: "/webapi/entry.cgi", query: {} });
    expect(auth!.fields).toEqual({ api: "SYNO.API.Auth", version: "7", method: "login", account: "rota", passwd: PASSWORD, format: "sid", enable_syno_token: "yes" });
    expect(list!.synoTokenHeader).not.toBeNull();
    expect(imp!.contentType).toStartWith("multipart/form-data");
    expect(imp!.query).toMatchObject({ api: "SYNO.Core.Certificate", method: "import", version: "1", SynoToken: list!.synoTokenHeader!, _sid: list!.query._sid! });
    expect(imp!.synoTokenHeader).toBe(list!.synoTokenHeader);
    expect(imp!.files.sort()).toEqual(["cert", "inter_cert", "key"]);
    expect(imp!.fields).toMatchObject({ id: "AbC123", desc: "rota", as_default: "true", cert: fx.first.leafPem, inter_cert: fx.first.chainPem });
    expect(s.fake.openSessions()).toBe(0);
  });

  test("a non-default entry is replaced without as_default; make_default sends it", async () => {
    const s = await subject();
    s.fake.entries.push(dsmEntry({ id: "Def000", desc: "synology", is_default: true }), dsmEntry({ id: "AbC123", desc: "rota" }));
    await s.backend.install(fx.first, signal);
    expect(s.fake.calls("SYNO.Core.Certificate import")[0]!.fields.as_default).toBeUndefined();
    expect(s.fake.entries.map((e) => [e.id, e.is_default])).toEqual([["Def000", true], ["AbC123", false]]);
    const forced = createDsmInstall("nas", { ...s.cfg, makeDefault: true }, { stateDir: s.stateDir, clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] });
    await forced.install(fx.second, signal);
    expect(s.fake.entries.map((e) => [e.id, e.is_default])).toEqual([["Def000", false], ["AbC123", true]]);
  });

  test("the read-back waits out the web server restart after an import (connections refused for 1 s)", async () => {
    const s = await subject({ restartMs: 1000 });
    const t0 = Date.now();
    await s.backend.install(fx.first, signal);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(s.fake.calls("SYNO.Core.Certificate.CRT list")).toHaveLength(2);
    expect(s.fake.openSessions()).toBe(0);
    expect(await s.backend.readBack("www", signal)).toEqual({ state: "present", leafPem: fx.first.leafPem });
  });
});

describe("dsm: which entry", () => {
  test("an unknown certificate_id creates nothing and says so", async () => {
    const s = await subject({ cfg: { certificateId: "Nope42", description: undefined } });
    s.fake.entries.push(dsmEntry({ id: "AbC123", desc: "rota" }));
    const err = await failure(s.backend.install(fx.first, signal));
    expect(err).toMatchObject({ noRetry: true, message: "dsm nas: DSM has no certificate with id Nope42 (certificate_id); rota replaces it but never creates it" });
    expect(s.fake.calls("SYNO.Core.Certificate import")).toHaveLength(0);
    expect(s.fake.entries).toHaveLength(1);
    expect(s.fake.openSessions()).toBe(0);
  });

  test("rota dsm login: the login works and clears the latch, but an entry installs will refuse is a failure, not an ok", async () => {
    const s = await subject({ cfg: { certificateId: "Nope42", description: undefined } });
    s.fake.entries.push(dsmEntry({ id: "AbC123", desc: "rota" }));
    expect(await loginResult(s)).toEqual({
      line: `logged in to ${s.fake.url} as rota`,
      refusal: "dsm nas: DSM has no certificate with id Nope42 (certificate_id); rota replaces it but never creates it; the login works, but installs will fail until this is fixed",
    });
    const t = await subject();
    t.fake.entries.push(dsmEntry({ id: "Aaa111", desc: "rota" }), dsmEntry({ id: "Bbb222", desc: "rota" }));
    expect((await loginResult(t)).refusal).toContain("ids Aaa111, Bbb222");
    expect(t.fake.openSessions()).toBe(0);
  });

  test("two entries described alike: the error names both ids, nothing imported", async () => {
    const s = await subject();
    s.fake.entries.push(dsmEntry({ id: "Aaa111", desc: "rota" }), dsmEntry({ id: "Bbb222", desc: "rota" }));
    const err = await failure(s.backend.install(fx.first, signal));
    expect(err?.message).toContain("ids Aaa111, Bbb222");
    expect(s.fake.calls("SYNO.Core.Certificate import")).toHaveLength(0);
  });

  test("none described so: created (empty id), or refused with create = false", async () => {
    const s = await subject();
    await s.backend.install(fx.first, signal);
    expect(s.fake.calls("SYNO.Core.Certificate import")[0]!.fields.id).toBe("");
    expect(s.fake.entries.map((e) => e.desc)).toEqual(["rota"]);
    const t = await subject({ cfg: { create: false } });
    expect((await failure(t.backend.install(fx.first, signal)))?.message).toBe('dsm nas: DSM has no certificate described "rota", and create = false');
  });

  test("rota's last import wins over the description (renamed in DSM's UI)", async () => {
    const s = await subject();
    await s.backend.install(fx.first, signal);
    s.fake.entries[0]!.desc = "renamed";
    await s.backend.install(fx.second, signal);
    expect(s.fake.entries).toHaveLength(1);
    expect(s.fake.calls("SYNO.Core.Certificate import")[1]!.fields.id).toBe(s.fake.entries[0]!.id);
  });
});

describe("dsm: convergence", () => {
  test("a deleted entry reads back absent and is re-created with one import", async () => {
    const s = await subject();
    await s.backend.install(fx.first, signal);
    s.fake.entries.splice(0);
    expect(await s.backend.readBack("www", signal)).toEqual({ state: "absent" });
    const before = s.fake.calls("SYNO.Core.Certificate import").length;
    await s.backend.install(fx.first, signal);
    expect(s.fake.calls("SYNO.Core.Certificate import").length - before).toBe(1);
    expect(s.fake.entries).toHaveLength(1);
  });

  test("after a restart of rota the kept copy reads back present, confirmed by login, list, logout", async () => {
    const s = await subject();
    await s.backend.install(fx.first, signal);
    const n = s.fake.requests.length;
    expect(await s.again().readBack("www", signal)).toEqual({ state: "present", leafPem: fx.first.leafPem });
    expect(s.fake.requests.slice(n).map((r) => r.call)).toEqual(["SYNO.API.Info query", "SYNO.API.Auth login", "SYNO.Core.Certificate.CRT list", "SYNO.API.Auth logout"]);
    const kept = join(s.stateDir, "dsm", "nas");
    expect(statSync(join(kept, "cert.pem")).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(kept, "installed.json"), "utf8"))).toMatchObject({ cert_id: "www", id: s.fake.entries[0]!.id });
  });

  test("a valid_till that does not parse, or DSM down: the read-back throws", async () => {
    const s = await subject();
    await s.backend.install(fx.first, signal);
    s.fake.entries[0]!.valid_till = "2030-01-01";
    expect(await failure(s.backend.readBack("www", signal))).toMatchObject({ code: "read_failed", message: 'dsm nas: DSM lists valid_till "2030-01-01", which does not parse' });
    await s.fake.breakIt();
    expect((await failure(s.backend.readBack("www", signal)))?.message).toStartWith("dsm nas: SYNO.API.Info query: cannot reach DSM: ");
  });

  test("a session DSM dropped (119) is replaced once", async () => {
    const s = await subject();
    await s.backend.install(fx.first, signal);
    const n = s.fake.requests.length;
    s.fake.onRequest = (r) => {
      if (r.call === "SYNO.Core.Certificate.CRT list") {
        s.fake.onRequest = undefined;
        s.fake.dropSessions();
      }
    };
    expect((await s.backend.readBack("www", signal)).state).toBe("present");
    expect(s.fake.requests.slice(n).map((r) => r.call)).toEqual([
      "SYNO.API.Info query",
      "SYNO.API.Auth login",
      "SYNO.Core.Certificate.CRT list",
      "SYNO.API.Auth logout",
      "SYNO.API.Auth login",
      "SYNO.Core.Certificate.CRT list",
      "SYNO.API.Auth logout",
    ]);
  });
});

describe("dsm: the latch", () => {
  test("a wrong password: one login, the latch and one event, then nothing sent; rota dsm login clears it", async () => {
    const s = await subject({ users: [admin({ password: "changed" })] });
    const err = await failure(s.backend.install(fx.first, signal));
    expect(err).toMatchObject({ code: "dsm_reauth_required", noRetry: true });
    expect(err?.message).toBe("dsm nas: SYNO.API.Auth login: wrong account or password (400); fix it, then run `rota dsm login nas`");
    expect(s.fake.calls("SYNO.API.Auth login")).toHaveLength(1);
    expect(s.events).toEqual([
      { type: "target.action_required", target: "nas", certId: "www", code: "dsm_reauth_required", message: err!.message, at: expect.any(Date) },
    ]);
    const latch = join(s.stateDir, "dsm", "nas", "auth-blocked.json");
    expect(statSync(latch).mode & 0o777).toBe(0o600);
    const n = s.fake.requests.length;
    for (let i = 0; i < 3; i++) {
      expect(await failure(s.backend.install(fx.first, signal))).toMatchObject({ code: "dsm_reauth_required", noRetry: true });
      expect(await failure(s.backend.readBack("www", signal))).toMatchObject({ code: "dsm_reauth_required" });
    }
    expect(s.fake.requests.length).toBe(n);
    expect(s.events).toHaveLength(1);
    s.fake.users[0]!.password = PASSWORD;
    expect(await login(s)).toBe(`logged in to ${s.fake.url} as rota; certificate "rota" not in DSM yet (the next install creates it)`);
    expect(existsSync(latch)).toBe(false);
    await s.backend.install(fx.first, signal);
    expect(s.fake.openSessions()).toBe(0);
  });

  test.each([
    [401, { account: "rota", password: PASSWORD, admin: true }, "unused", "the account is disabled"],
    [406, admin({ otpNotSetUp: true }), PASSWORD, "2-step verification is enforced but not set up for this account"],
  ])("DSM %p latches too", async (code, user, _pw, text) => {
    const s = await subject({ users: [user] });
    if (code === 401) s.fake.disabled.add("rota");
    expect((await failure(s.backend.install(fx.first, signal)))?.message).toBe(`dsm nas: SYNO.API.Auth login: ${text} (${code}); fix it, then run \`rota dsm login nas\``);
    expect(s.events).toHaveLength(1);
  });

  test("the latch is what spares the auto block: five wrong logins in a row would trip it (the fake's trap)", async () => {
    const s = await subject();
    const client = clientFor("nas", s.cfg, systemClock);
    const apis = await client.discover(signal);
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const err = await failure(client.login(apis, { account: "rota", passwd: "wrong", deviceName: "x" }, signal));
      codes.push((err as unknown as DsmApiError).dsmCode);
    }
    expect(codes).toEqual([400, 400, 400, 400, 400, 407]);
    expect((await failure(client.login(apis, { account: "rota", passwd: PASSWORD, deviceName: "x" }, signal)) as unknown as DsmApiError).dsmCode).toBe(407);
  });

  test("DSM's auto block (407) is retried later, never latched", async () => {
    const s = await subject();
    s.fake.failedLogins = 5;
    const err = await failure(s.backend.install(fx.first, signal));
    expect(err).toMatchObject({ code: "dsm_error", noRetry: false, message: "dsm nas: SYNO.API.Auth login: DSM auto block: too many failed logins from this address (407)" });
    expect(s.events).toEqual([]);
    expect(existsSync(join(s.stateDir, "dsm", "nas", "auth-blocked.json"))).toBe(false);
  });
});

describe("dsm: 2-step verification", () => {
  test("the code gets a device token (0600); later logins carry it and no code; a revoked token latches once", async () => {
    const s = await subject({ users: [admin({ otp: "123456" })] });
    expect((await failure(s.backend.install(fx.first, signal)))?.message).toBe(
      "dsm nas: SYNO.API.Auth login: 2-step verification code needed (403); fix it, then run `rota dsm login nas`",
    );
    expect(s.events).toHaveLength(1);
    expect(await login(s, async () => "123456")).toBe(`logged in to ${s.fake.url} as rota; device token stored; certificate "rota" not in DSM yet (the next install creates it)`);
    const otpLogin = s.fake.calls("SYNO.API.Auth login").at(-1)!;
    expect(otpLogin.fields).toMatchObject({ otp_code: "123456", enable_device_token: "yes", device_name: "rota-test" });
    const devicePath = join(s.stateDir, "dsm", "nas", "device.json");
    expect(statSync(devicePath).mode & 0o777).toBe(0o600);
    const deviceId = JSON.parse(readFileSync(devicePath, "utf8")).device_id as string;
    expect([...s.fake.devices.keys()]).toEqual([deviceId]);

    await s.backend.install(fx.first, signal);
    const later = s.fake.calls("SYNO.API.Auth login").at(-1)!;
    expect(later.fields).toMatchObject({ device_id: deviceId, device_name: "rota-test" });
    expect(later.fields.otp_code).toBeUndefined();

    s.fake.revokeDevices();
    const err = await failure(s.backend.readBack("www", signal));
    expect(err?.message).toBe("dsm nas: SYNO.API.Auth login: device token rejected (expired or revoked) (403); fix it, then run `rota dsm login nas`");
    expect(await failure(s.backend.install(fx.second, signal))).toMatchObject({ code: "dsm_reauth_required" });
    expect(s.events.map((e) => e.type)).toEqual(["target.action_required", "target.action_required"]);
    for (const r of s.fake.requests) expect(r.url).not.toContain(deviceId);
  });

  test("a wrong code: refused, nothing stored", async () => {
    const s = await subject({ users: [admin({ otp: "123456" })] });
    expect((await failure(login(s, async () => "654321")))?.message).toBe("dsm nas: SYNO.API.Auth login: wrong 2-step verification code (404)");
    expect(existsSync(join(s.stateDir, "dsm", "nas", "device.json"))).toBe(false);
  });

  test("Auth v6 (DSM 6.2) returns did, stored as the device id; older DSM is refused", async () => {
    const s = await subject({ users: [admin({ otp: "123456" })] });
    s.fake.authMaxVersion = 6;
    await login(s, async () => "123456");
    const stored = JSON.parse(readFileSync(join(s.stateDir, "dsm", "nas", "device.json"), "utf8")).device_id;
    expect([...s.fake.devices.keys()]).toEqual([stored]);
    expect(s.fake.calls("SYNO.API.Auth login")[0]).toMatchObject({ path: "/webapi/auth.cgi" });
    s.fake.authMaxVersion = 4;
    expect((await failure(s.backend.install(fx.first, signal)))?.message).toBe("dsm nas: DSM offers SYNO.API.Auth version 4 only: DSM 6.2 or later needed");
  });
});

describe("dsm: clear errors, no leaks", () => {
  test("an account that is not an administrator: 105 in words, the session closed", async () => {
    const s = await subject({ users: [admin({ admin: false })] });
    expect((await failure(s.backend.install(fx.first, signal)))?.message).toBe(
      "dsm nas: SYNO.Core.Certificate.CRT list: the account is not an administrator (add it to the administrators group) (105)",
    );
    expect(s.fake.openSessions()).toBe(0);
  });

  test("a redirect is not followed: the error names where to", async () => {
    const s = await subject();
    s.fake.redirectTo = "https://127.0.0.1:5001";
    expect((await failure(s.backend.install(fx.first, signal)))?.message).toBe("dsm nas: SYNO.API.Info query: DSM redirects to https://127.0.0.1:5001; set url to it");
    expect(s.fake.requests).toHaveLength(1);
  });

  test("HTTPS: trusted through ca_bundle; unverified only with insecure_skip_verify, which every start logs", async () => {
    const probe = await subject({ https: true });
    const err = await failure(probe.backend.install(fx.first, signal));
    expect(err?.message).toMatch(/^dsm nas: SYNO\.API\.Info query: cannot reach DSM: \S+ \(DSM's TLS certificate is not trusted: set ca_bundle, or tls_server_name to the name it holds\)$/);
    const trusted = await subject({ https: true, cfg: {} });
    const withCa = createDsmInstall("nas", { ...trusted.cfg, caBundle: trusted.fake.caPath }, { stateDir: trusted.stateDir, clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] });
    await withCa.install(fx.first, signal);
    const insecure = await subject({ https: true, cfg: { insecureSkipVerify: true } });
    await insecure.backend.install(fx.first, signal);
    expect(insecure.logs.join("")).toContain(`dsm nas: TLS certificate of ${insecure.fake.url} is NOT verified (insecure_skip_verify = true)`);
    expect(trusted.logs.join("")).not.toContain("NOT verified");
  });

  test("no password in any URL, no session left open, failed runs included", async () => {
    const s = await subject();
    s.fake.entries.push(dsmEntry({ id: "Aaa111", desc: "rota" }), dsmEntry({ id: "Bbb222", desc: "rota" }));
    await failure(s.backend.install(fx.first, signal));
    s.fake.entries.splice(1);
    await s.backend.install(fx.first, signal);
    await s.backend.readBack("www", signal);
    const ac = new AbortController();
    s.fake.onRequest = (r) => {
      if (r.call === "SYNO.Core.Certificate.CRT list") ac.abort();
    };
    await failure(s.backend.readBack("www", ac.signal));
    s.fake.onRequest = undefined;
    expect(s.fake.openSessions()).toBe(0);
    expect(s.fake.requests.length).toBeGreaterThan(10);
    for (const r of s.fake.requests) expect(r.url).not.toContain(PASSWORD);
    expect(s.logs.join("")).not.toContain(PASSWORD);
  });
});
