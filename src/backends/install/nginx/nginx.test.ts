/** @module NginxInstall: the install contract, then test-then-reload, rollback byte for byte, combined.pem and the deploy hook after the reload. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { summarizeCert } from "../../../crypto/summary.ts";
import { describeError } from "../../../errors.ts";
import { systemClock } from "../../../clock.ts";
import { createLogger } from "../../../log.ts";
import { canReadBack, isCheckable, type InstallBackend, type InstallRequest, type ReadBack } from "../../types.ts";
import type { Command } from "../command.ts";
import { makeInstallFixtures, runInstallContract, type InstallFixtures } from "../contract.ts";
import type { NginxConfig } from "./config.ts";
import { createNginxInstall, createNginxTarget } from "./nginx.ts";

const cmd = (key: string, argv: string[]): Command => ({ key, argv, timeoutSeconds: 10 });
const config = (dir: string, o: Partial<NginxConfig> = {}): NginxConfig => ({
  dir,
  uid: undefined,
  gid: undefined,
  test: cmd("test_command", ["true"]),
  reload: cmd("reload_command", ["true"]),
  combined: false,
  ...o,
});

runInstallContract("nginx", true, () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-nginx-install-"));
  return {
    backend: createNginxInstall("web", config(dir), join(dir, ".lock"), () => []),
    damage: (certId) => rmSync(join(dir, certId, "privkey.pem")),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

runInstallContract("nginx, combined = true", true, () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-nginx-install-"));
  return {
    backend: createNginxInstall("web", config(dir, { combined: true }), join(dir, ".lock"), () => []),
    damage: (certId) => rmSync(join(dir, certId, "combined.pem")),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe("nginx install", () => {
  let fx: InstallFixtures;
  let caDir: string;
  let dir: string;
  let log: string;
  const signal = new AbortController().signal;
  const at = (name: string) => join(dir, "www", name);
  const SET = ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"];
  const snapshot = () => Object.fromEntries(readdirSync(join(dir, "www")).map((f) => [f, { data: readFileSync(at(f)), mode: statSync(at(f)).mode & 0o777 }]));
  /** A command that appends its key to the log, then exits with `code` after printing `say`. */
  const logged = (key: string, code = 0, say = "") => cmd(key, ["/bin/sh", "-c", `echo ${key} >> ${log}; ${say ? `echo '${say}' >&2;` : ""} exit ${code}`]);
  const ran = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);
  const nginx = (o: Partial<NginxConfig> = {}) => createNginxInstall("web", config(dir, { test: logged("test_command"), reload: logged("reload_command"), ...o }), join(dir, ".lock"), () => []);

  beforeAll(async () => {
    caDir = mkdtempSync(join(tmpdir(), "rota-nginx-ca-"));
    fx = await makeInstallFixtures(caDir);
  });
  afterAll(() => rmSync(caDir, { recursive: true, force: true }));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "rota-nginx-install-"));
    log = join(dir, "commands.log");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("writes the filesystem set, then tests, then reloads", async () => {
    await nginx().install(fx.first, signal);
    expect(readdirSync(join(dir, "www")).sort()).toEqual(SET);
    expect(readFileSync(at("cert.pem"), "utf8")).toBe(fx.first.leafPem);
    expect(ran()).toEqual(["test_command", "reload_command"]);
  });

  test("a failing test: no reload, the previous files back byte for byte, the step names target, command and output", async () => {
    await nginx().install(fx.first, signal);
    const before = snapshot();
    const failing = nginx({ test: logged("test_command", 1, "nginx: [emerg] cannot load certificate") });
    const err = await failing.install(fx.second, signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "command_failed" });
    expect(describeError(err)).toBe(
      `nginx web: test_command ["/bin/sh","-c","echo test_command >> ${log}; echo 'nginx: [emerg] cannot load certificate' >&2; exit 1"] exited with 1: nginx: [emerg] cannot load certificate; the previous files are back in ${join(dir, "www")}`,
    );
    expect(snapshot()).toEqual(before);
    expect(ran()).toEqual(["test_command", "reload_command", "test_command"]);
  });

  test("a failing reload puts the previous files back too", async () => {
    await nginx().install(fx.first, signal);
    const before = snapshot();
    const err = await nginx({ reload: logged("reload_command", 1, "nginx: [alert] kill(1234, 1) failed") }).install(fx.second, signal).catch((e: unknown) => e);
    expect(describeError(err)).toContain('reload_command ["/bin/sh"');
    expect(describeError(err)).toContain("nginx: [alert] kill(1234, 1) failed; the previous files are back in");
    expect(snapshot()).toEqual(before);
  });

  test("a first install that fails leaves nothing behind, and says so rather than claiming previous files", async () => {
    const err = await nginx({ test: cmd("test_command", ["false"]) }).install(fx.first, signal).catch((e: unknown) => e);
    expect(describeError(err)).toBe(`nginx web: test_command ["false"] exited with 1 (no output); ${join(dir, "www")} is left as it was, without the new files (there were none before)`);
    expect(readdirSync(join(dir, "www"))).toEqual([]);
  });

  test("combined = true: combined.pem holds key, leaf and chain, mode 0600; rolled back with the rest", async () => {
    await nginx({ combined: true }).install(fx.first, signal);
    expect(readFileSync(at("combined.pem"), "utf8")).toBe(fx.first.privateKeyPem + fx.first.leafPem + fx.first.chainPem);
    expect(statSync(at("combined.pem")).mode & 0o777).toBe(0o600);
    const before = snapshot();
    await nginx({ combined: true, test: cmd("test_command", ["false"]) }).install(fx.second, signal).catch(() => {});
    expect(snapshot()).toEqual(before);
  });

  describe("combined = true in the read-back", () => {
    const combinedOf = (req: InstallRequest) => req.privateKeyPem + req.leafPem + req.chainPem;
    const readBack = (backend: InstallBackend = nginx({ combined: true })) => {
      if (!canReadBack(backend)) throw new Error("an nginx target reads back");
      return backend.readBack("www", signal);
    };
    const damaged = (reason: string): ReadBack => ({ state: "damaged", reason });

    test("a set installed before combined was turned on is damaged until an install writes combined.pem, with a test and a reload", async () => {
      await nginx().install(fx.first, signal);
      expect(await readBack(nginx())).toMatchObject({ state: "present" });
      expect(await readBack()).toEqual(damaged("combined.pem is missing"));
      await nginx({ combined: true }).install(fx.first, signal);
      expect(ran()).toEqual(["test_command", "reload_command", "test_command", "reload_command"]);
      expect(await readBack()).toMatchObject({ state: "present", leafPem: fx.first.leafPem });
    });

    test("removed, readable by all, or holding another set: damaged, the reason never quoting the key", async () => {
      const target = nginx({ combined: true });
      await target.install(fx.first, signal);
      rmSync(at("combined.pem"));
      expect(await readBack(target)).toEqual(damaged("combined.pem is missing"));
      await target.install(fx.first, signal);
      chmodSync(at("combined.pem"), 0o644);
      expect(await readBack(target)).toEqual(damaged("combined.pem has mode 0644, expected 0600"));
      chmodSync(at("combined.pem"), 0o600);
      writeFileSync(at("combined.pem"), combinedOf(fx.second));
      expect(await readBack(target)).toEqual(damaged("combined.pem is not privkey.pem followed by fullchain.pem"));
      writeFileSync(at("combined.pem"), fx.first.leafPem + fx.first.chainPem + fx.first.privateKeyPem);
      expect(await readBack(target)).toEqual(damaged("combined.pem is not privkey.pem followed by fullchain.pem"));
    });

    test("the set's stamp covers combined.pem: a reader holding it is told of a change there, not answered unchanged", async () => {
      const target = nginx({ combined: true });
      await target.install(fx.first, signal);
      const first = await readBack(target);
      if (first.state !== "present") throw new Error(`expected present, got ${first.state}`);
      if (!canReadBack(target)) throw new Error("an nginx target reads back");
      expect(await target.readBack("www", signal, { known: first.stamp })).toEqual({ state: "unchanged", stamp: first.stamp! });
      writeFileSync(at("combined.pem"), combinedOf(fx.second), { mode: 0o600 });
      expect(await target.readBack("www", signal, { known: first.stamp })).toEqual(damaged("combined.pem is not privkey.pem followed by fullchain.pem"));
      await target.install(fx.first, signal);
      const again = await target.readBack("www", signal, { known: first.stamp });
      expect(again).toMatchObject({ state: "present", leafPem: fx.first.leafPem });
      expect(again.state === "present" && again.stamp).not.toBe(first.stamp);
    });

    test("combined.pem alone, the set gone: damaged, not absent", async () => {
      await nginx({ combined: true }).install(fx.first, signal);
      for (const f of SET) rmSync(at(f));
      expect(await readBack()).toEqual(damaged("privkey.pem is missing"));
    });
  });

  test("post_install_command runs after the reload, with the cert's facts in its environment", async () => {
    const envFile = join(dir, "env");
    const ctx = { stateDir: join(dir, "state"), clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] };
    const postInstall = cmd("post_install_command", ["/bin/sh", "-c", `echo post_install_command >> ${log}; env | grep -E '^ROTA_(CERT_ID|DOMAINS|CERT_DIR|SERIAL)=' | sort > ${envFile}`]);
    const target = createNginxTarget("web", config(dir, { test: logged("test_command"), reload: logged("reload_command"), postInstall }), ctx);
    await target.install(fx.first, signal);
    expect(ran()).toEqual(["test_command", "reload_command", "post_install_command"]);
    expect(readFileSync(envFile, "utf8")).toBe(
      [`ROTA_CERT_DIR=${join(dir, "www")}`, `ROTA_CERT_ID=www`, `ROTA_DOMAINS=${fx.first.domains.join(" ")}`, `ROTA_SERIAL=${summarizeCert(fx.first.leafPem).serial}`, ""].join("\n"),
    );
  });

  test("a failing post_install_command fails the step and keeps the new files", async () => {
    const ctx = { stateDir: join(dir, "state"), clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] };
    const postInstall = cmd("post_install_command", ["/bin/sh", "-c", "echo postfix is down; exit 4"]);
    const err = await createNginxTarget("web", config(dir, { postInstall }), ctx).install(fx.first, signal).catch((e: unknown) => e);
    expect(describeError(err)).toBe('nginx web: post_install_command ["/bin/sh","-c","echo postfix is down; exit 4"] exited with 4: postfix is down');
    expect(readFileSync(at("cert.pem"), "utf8")).toBe(fx.first.leafPem);
  });

  test("two certs at once on one target: one swap at a time, so a reload never sees the other's untested files", async () => {
    const fx2 = await makeInstallFixtures(caDir, "api");
    const slow = cmd("test_command", ["/bin/sh", "-c", `echo start >> ${log}; sleep 0.2; echo end >> ${log}`]);
    await Promise.all([nginx({ test: slow }).install(fx.first, signal), nginx({ test: slow }).install(fx2.first, signal)]);
    expect(ran()).toEqual(["start", "end", "reload_command", "start", "end", "reload_command"]);
  });

  test("a symlink planted at one of the files is refused before anything changes", async () => {
    await nginx().install(fx.first, signal);
    rmSync(at("chain.pem"));
    writeFileSync(join(dir, "elsewhere"), "x");
    Bun.spawnSync(["ln", "-s", join(dir, "elsewhere"), at("chain.pem")]);
    const err = await nginx().install(fx.second, signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "symlink_refused" });
    expect(readFileSync(at("cert.pem"), "utf8")).toBe(fx.first.leafPem);
  });
});

describe("check (rota doctor)", () => {
  const ctx = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
  const signal = new AbortController().signal;

  test("test_command passing, and failing with its output and a hint; building the target writes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rota-nginx-check-"));
    const stateDir = join(dir, "state");
    const check = (test: Command) => {
      const target = createNginxTarget("web", config(join(dir, "certs"), { test }), { stateDir, clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] });
      if (!isCheckable(target)) throw new Error("an nginx target has a check");
      return target.check(signal, ctx);
    };
    try {
      expect(await check(cmd("test_command", ["/bin/sh", "-c", "echo 'syntax is ok' >&2"]))).toEqual([
        { status: "ok", message: `${join(dir, "certs")} writable by root` },
        { status: "ok", message: 'test_command ["/bin/sh","-c","echo \'syntax is ok\' >&2"] passed' },
      ]);
      const bad = await check(cmd("test_command", ["/bin/sh", "-c", "echo 'unknown directive \"sll\"' >&2; exit 1"]));
      expect(bad[1]!.status).toBe("fail");
      expect(bad[1]!.message).toContain('unknown directive "sll"');
      expect(bad[1]!.hint).toContain("fix nginx's configuration");
      expect(existsSync(stateDir)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("nginx -s reload as a service user that is not root: a warning that a root master needs CAP_KILL, with the drop-in; as root, or another reload command, none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rota-nginx-check-"));
    const check = (reload: Command, user: { name: string; uid: number; gid: number }) => {
      const target = createNginxTarget("web", config(dir, { reload }), { stateDir: join(dir, "state"), clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] });
      if (!isCheckable(target)) throw new Error("an nginx target has a check");
      return target.check(signal, { ...ctx, user });
    };
    const rota = { name: "rota", uid: 4242, gid: 4242 };
    try {
      const found = await check(cmd("reload_command", ["/usr/sbin/nginx", "-s", "reload"]), rota);
      expect(found.find((f) => f.status === "warn")).toEqual({
        status: "warn",
        message: 'reload_command ["/usr/sbin/nginx","-s","reload"] signals nginx\'s master as rota: a master running as root needs CAP_KILL',
        dropIn: { paths: [], capabilities: ["CAP_KILL"] },
      });
      expect((await check(cmd("reload_command", ["nginx", "-s", "reload"]), ctx.user)).filter((f) => f.status === "warn")).toEqual([]);
      expect((await check(cmd("reload_command", ["systemctl", "reload", "nginx"]), rota)).filter((f) => f.status === "warn")).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("nginx -t as a service user that is not root: a warning naming what it writes and binds, with the nginx drop-in; as root, or another test command, none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rota-nginx-check-"));
    const warnings = async (test: Command, user: { name: string; uid: number; gid: number }) => {
      const target = createNginxTarget("web", config(dir, { test }), { stateDir: join(dir, "state"), clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] });
      if (!isCheckable(target)) throw new Error("an nginx target has a check");
      return (await target.check(signal, { ...ctx, user })).filter((f) => f.status === "warn");
    };
    const rota = { name: "rota", uid: 4242, gid: 4242 };
    // A stand-in named nginx that passes: the warning is about the user, not the result.
    const fake = join(dir, "nginx");
    writeFileSync(fake, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    try {
      expect(await warnings(cmd("test_command", [fake, "-t"]), rota)).toEqual([
        {
          status: "warn",
          message: `test_command ${JSON.stringify([fake, "-t"])} runs as rota under the unit: nginx -t opens its pid file and logs for writing and binds the listen ports`,
          hint: 'set test_command = ["true"] to install without nginx -t checking the configuration first (docs/install.md)',
          dropIn: { paths: ["/var/log/nginx", "/run"], capabilities: ["CAP_DAC_OVERRIDE", "CAP_NET_BIND_SERVICE"] },
        },
      ]);
      expect(await warnings(cmd("test_command", [fake, "-t"]), ctx.user)).toEqual([]);
      expect(await warnings(cmd("test_command", ["true"]), rota)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
