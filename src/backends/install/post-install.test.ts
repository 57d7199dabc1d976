/** @module post_install_command on a filesystem target: runs after the files, sees the cert's facts, fails the step without undoing it. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../clock.ts";
import { summarizeCert } from "../../crypto/summary.ts";
import { describeError } from "../../errors.ts";
import { canReadBack, isCheckable } from "../types.ts";
import type { Command } from "./command.ts";
import { makeInstallFixtures, type InstallFixtures } from "./contract.ts";
import { createFilesystemTarget } from "./filesystem/filesystem.ts";

describe("post_install_command", () => {
  let fx: InstallFixtures;
  let caDir: string;
  let dir: string;
  const signal = new AbortController().signal;
  const hook = (script: string): Command => ({ key: "post_install_command", argv: ["/bin/sh", "-c", script], timeoutSeconds: 10 });
  const ctx = { clock: systemClock, withheldEnv: () => ["ROTA_TEST_HOOK_TOKEN"] };

  beforeAll(async () => {
    caDir = mkdtempSync(join(tmpdir(), "rota-hook-ca-"));
    fx = await makeInstallFixtures(caDir);
  });
  afterAll(() => rmSync(caDir, { recursive: true, force: true }));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "rota-hook-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("runs once the files are in place, with ROTA_CERT_ID, ROTA_DOMAINS, ROTA_CERT_DIR and ROTA_SERIAL", async () => {
    const seen = join(dir, "seen");
    const target = createFilesystemTarget("files", { dir, uid: undefined, gid: undefined, postInstall: hook(`{ env | grep -E '^ROTA_(CERT_ID|DOMAINS|CERT_DIR|SERIAL)=' | sort; cat "$ROTA_CERT_DIR/cert.pem"; } > ${seen}`) }, ctx);
    await target.install({ ...fx.first, domains: ["www.example.com", "example.com"] }, signal);
    expect(readFileSync(seen, "utf8")).toBe(
      `ROTA_CERT_DIR=${join(dir, "www")}\nROTA_CERT_ID=www\nROTA_DOMAINS=www.example.com example.com\nROTA_SERIAL=${summarizeCert(fx.first.leafPem).serial}\n${fx.first.leafPem}`,
    );
  });

  test("a *_env secret of the config is not in its environment, and its value never in a message", async () => {
    process.env.ROTA_TEST_HOOK_TOKEN = "CANARY-hook-5521";
    try {
      const seen = join(dir, "seen");
      const ok = createFilesystemTarget("files", { dir, uid: undefined, gid: undefined, postInstall: hook(`env > ${seen}`) }, ctx);
      await ok.install(fx.first, signal);
      expect(readFileSync(seen, "utf8")).not.toContain("ROTA_TEST_HOOK_TOKEN");
      expect(readFileSync(seen, "utf8")).toContain("ROTA_CERT_ID=www");
      // Read another way (a copy in a file, the daemon's /proc/<pid>/environ): still cut from the message.
      const copy = join(dir, "copy");
      await Bun.write(copy, "CANARY-hook-5521");
      const leaky = createFilesystemTarget("files", { dir, uid: undefined, gid: undefined, postInstall: hook(`echo "token is $(cat ${copy})"; exit 1`) }, ctx);
      const err = await leaky.install(fx.first, signal).catch((e: unknown) => e);
      expect(describeError(err)).toEndWith("exited with 1: token is [redacted]");
    } finally {
      delete process.env.ROTA_TEST_HOOK_TOKEN;
    }
  });

  test("the wrapped target keeps its read-back and its self-check (rota doctor), which runs no command", async () => {
    const ran = join(dir, "ran");
    const target = createFilesystemTarget("files", { dir, uid: undefined, gid: undefined, postInstall: hook(`touch ${ran}`) }, ctx);
    expect(canReadBack(target)).toBe(true);
    if (!isCheckable(target)) throw new Error("the wrapped target lost its check");
    expect(await target.check(signal, { offline: false, user: { name: "root", uid: 0, gid: 0 } })).toEqual([{ status: "ok", message: `${dir} writable by root` }]);
    expect(existsSync(ran)).toBe(false);
  });

  test("its failure fails the install, naming the target and the output; the files stay", async () => {
    const target = createFilesystemTarget("files", { dir, uid: undefined, gid: undefined, postInstall: hook("echo 'postfix: not running' >&2; exit 1") }, ctx);
    const err = await target.install(fx.first, signal).catch((e: unknown) => e);
    expect(describeError(err)).toBe(`filesystem files: post_install_command ["/bin/sh","-c","echo 'postfix: not running' >&2; exit 1"] exited with 1: postfix: not running`);
    expect(readFileSync(join(dir, "www", "cert.pem"), "utf8")).toBe(fx.first.leafPem);
  });

  test("the target still reads back", async () => {
    const target = createFilesystemTarget("files", { dir, uid: undefined, gid: undefined, postInstall: hook("true") }, ctx);
    await target.install(fx.first, signal);
    expect(canReadBack(target) && (await target.readBack("www", signal))).toMatchObject({ state: "present", leafPem: fx.first.leafPem });
  });

  test("not run when the install failed", async () => {
    const marker = join(dir, "ran");
    await Bun.write(join(dir, "www"), "a file where the folder should be");
    const target = createFilesystemTarget("files", { dir, uid: undefined, gid: undefined, postInstall: hook(`touch ${marker}`) }, ctx);
    await expect(target.install(fx.first, signal)).rejects.toMatchObject({ code: "install_failed" });
    expect(await Bun.file(marker).exists()).toBe(false);
  });
});
