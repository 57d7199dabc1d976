/** @module FilesystemInstall: the install contract, then its file layout, modes, owners and atomic replacement. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { chownSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { splitPem } from "../../../crypto/x509.ts";
import { describeError } from "../../../errors.ts";
import type { InstallBackend } from "../../types.ts";
import { makeInstallFixtures, runInstallContract, type InstallFixtures } from "../contract.ts";
import { createFilesystemInstall } from "./filesystem.ts";

runInstallContract("filesystem", true, () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-fs-install-"));
  return {
    backend: createFilesystemInstall("files", { dir, uid: undefined, gid: undefined }),
    damage: (certId) => rmSync(join(dir, certId, "privkey.pem")),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe("filesystem install", () => {
  let fx: InstallFixtures;
  let caDir: string;
  let dir: string;
  let files: InstallBackend;
  const signal = new AbortController().signal;
  const at = (name: string) => join(dir, "www", name);
  const read = (name: string) => readFileSync(at(name), "utf8");
  const modeOf = (p: string) => statSync(p).mode & 0o777;

  beforeAll(async () => {
    caDir = mkdtempSync(join(tmpdir(), "rota-fs-ca-"));
    fx = await makeInstallFixtures(caDir);
  });
  afterAll(() => rmSync(caDir, { recursive: true, force: true }));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "rota-fs-install-"));
    files = createFilesystemInstall("files", { dir, uid: undefined, gid: undefined });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("writes privkey, cert, chain and fullchain into <dir>/<cert id>, nothing else", async () => {
    await files.install(fx.first, signal);
    expect(readdirSync(join(dir, "www")).sort()).toEqual(["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]);
    expect(read("privkey.pem")).toBe(fx.first.privateKeyPem);
    expect(read("cert.pem")).toBe(fx.first.leafPem);
  });

  test("chain.pem holds only the intermediates; fullchain is leaf then chain", async () => {
    await files.install(fx.first, signal);
    const chain = splitPem(read("chain.pem"));
    expect(chain).toEqual(splitPem(fx.first.chainPem));
    expect(chain).not.toContain(splitPem(fx.first.leafPem)[0]!);
    expect(read("fullchain.pem")).toBe(read("cert.pem") + read("chain.pem"));
    expect(splitPem(read("fullchain.pem"))).toEqual([...splitPem(fx.first.leafPem), ...chain]);
  });

  test("modes: the key 0600, certificates 0644, the folder 0755", async () => {
    await files.install(fx.first, signal);
    expect(modeOf(at("privkey.pem"))).toBe(0o600);
    expect(modeOf(at("cert.pem"))).toBe(0o644);
    expect(modeOf(at("chain.pem"))).toBe(0o644);
    expect(modeOf(at("fullchain.pem"))).toBe(0o644);
    expect(modeOf(join(dir, "www"))).toBe(0o755);
  });

  test("PEMs without a final newline get one, so fullchain does not glue two lines together", async () => {
    await files.install({ ...fx.first, leafPem: fx.first.leafPem.trimEnd(), chainPem: fx.first.chainPem.trimEnd() }, signal);
    expect(read("cert.pem")).toEndWith("-----END CERTIFICATE-----\n");
    expect(splitPem(read("fullchain.pem"))).toHaveLength(2);
  });

  test("a second install replaces each file by rename: a reader of the old file still sees it whole", async () => {
    await files.install(fx.first, signal);
    const before = statSync(at("cert.pem")).ino;
    const fd = openSync(at("cert.pem"), "r");
    try {
      await files.install(fx.second, signal);
      const buf = Buffer.alloc(fx.first.leafPem.length + 16);
      const n = readSync(fd, buf, 0, buf.length, 0);
      expect(buf.subarray(0, n).toString()).toBe(fx.first.leafPem);
    } finally {
      closeSync(fd);
    }
    expect(statSync(at("cert.pem")).ino).not.toBe(before);
    expect(read("cert.pem")).toBe(fx.second.leafPem);
    expect(read("privkey.pem")).toBe(fx.second.privateKeyPem);
    // No temp file left behind.
    expect(readdirSync(join(dir, "www")).sort()).toEqual(["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]);
  });

  test.skipIf(process.getuid?.() !== 0)("owner and group apply to every file and the folder", async () => {
    const owned = createFilesystemInstall("files", { dir, uid: 65534, gid: 65534 });
    await owned.install(fx.first, signal);
    for (const p of [join(dir, "www"), ...["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"].map(at)]) {
      expect({ p, uid: statSync(p).uid, gid: statSync(p).gid }).toEqual({ p, uid: 65534, gid: 65534 });
    }
    expect(modeOf(at("privkey.pem"))).toBe(0o600);
  });

  test.skipIf(process.getuid?.() !== 0)("a group alone leaves the owner as it is", async () => {
    const grouped = createFilesystemInstall("files", { dir, uid: undefined, gid: 65534 });
    await grouped.install(fx.first, signal);
    expect(statSync(at("privkey.pem"))).toMatchObject({ uid: 0, gid: 65534 });
    expect(statSync(join(dir, "www"))).toMatchObject({ uid: 0, gid: 65534 });
  });

  test("a write failure names the backend and the folder", async () => {
    await Bun.write(join(dir, "www"), "a file where the folder should be");
    const err = await files.install(fx.first, signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "install_failed" });
    expect((err as Error).message).toStartWith(`filesystem files: cannot write ${join(dir, "www")}: `);
  });
});

describe("filesystem install never writes through a symlink", () => {
  let fx: InstallFixtures;
  let caDir: string;
  let dir: string;
  let outside: string;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    caDir = mkdtempSync(join(tmpdir(), "rota-fs-ca-"));
    fx = await makeInstallFixtures(caDir);
  });
  afterAll(() => rmSync(caDir, { recursive: true, force: true }));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "rota-fs-link-"));
    outside = mkdtempSync(join(tmpdir(), "rota-fs-outside-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  const refusal = async (backend: InstallBackend, path: string, req = fx.first) => {
    const err = await backend.install(req, signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "symlink_refused" });
    expect(describeError(err)).toBe(`filesystem files: ${path} is a symlink; refusing to write through it`);
  };

  test("a link at <dir>/<cert id>: refused, the folder it points to untouched", async () => {
    symlinkSync(outside, join(dir, "www"));
    await refusal(createFilesystemInstall("files", { dir, uid: undefined, gid: undefined }), join(dir, "www"));
    expect(readdirSync(outside)).toEqual([]);
  });

  test("a link at one of the files: refused before any file changes, the link's target untouched", async () => {
    const files = createFilesystemInstall("files", { dir, uid: undefined, gid: undefined });
    await files.install(fx.first, signal);
    const target = join(outside, "victim");
    writeFileSync(target, "precious\n", { mode: 0o640 });
    rmSync(join(dir, "www", "cert.pem"));
    symlinkSync(target, join(dir, "www", "cert.pem"));
    await refusal(files, join(dir, "www", "cert.pem"), fx.second);
    expect(readFileSync(target, "utf8")).toBe("precious\n");
    expect(statSync(target).mode & 0o777).toBe(0o640);
    expect(readFileSync(join(dir, "www", "privkey.pem"), "utf8")).toBe(fx.first.privateKeyPem);
    expect(readdirSync(join(dir, "www")).sort()).toEqual(["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]);
  });

  test.skipIf(process.getuid?.() !== 0)("as root with an owner configured: a link to a root-owned folder is neither written nor chowned", async () => {
    chownSync(outside, 0, 0);
    symlinkSync(outside, join(dir, "www"));
    await refusal(createFilesystemInstall("files", { dir, uid: 65534, gid: 65534 }), join(dir, "www"));
    expect(statSync(outside)).toMatchObject({ uid: 0, gid: 0 });
    expect(readdirSync(outside)).toEqual([]);
  });
});
