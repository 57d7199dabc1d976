/** @module The filesystem read-back: each way a set can be damaged, word for word, the verdict cache, and a sweep's reads through the folder's change hints. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPem } from "../../../crypto/keys.ts";
import { systemClock } from "../../../clock.ts";
import { FakeClock } from "../../../testing/fake-clock.ts";
import type { ReadableInstall, ReadBack } from "../../types.ts";
import { makeInstallFixtures, type InstallFixtures } from "../contract.ts";
import { FolderWatch, type ChangeHints } from "./change-hints.ts";
import { createFilesystemInstall } from "./filesystem.ts";
import { createSetReader, VERIFY_EVERY_MS, type ExtraFile } from "./read-back.ts";

describe("filesystem read-back", () => {
  let fx: InstallFixtures;
  let otherCa: InstallFixtures;
  let caDirs: string[];
  let dir: string;
  let files: ReadableInstall;
  const signal = new AbortController().signal;
  const at = (name: string) => join(dir, "www", name);
  const readBack = (backend = files) => backend.readBack("www", signal);
  const damaged = (reason: string): ReadBack => ({ state: "damaged", reason });

  beforeAll(async () => {
    caDirs = [mkdtempSync(join(tmpdir(), "rota-rb-ca-")), mkdtempSync(join(tmpdir(), "rota-rb-ca-"))];
    fx = await makeInstallFixtures(caDirs[0]!);
    otherCa = await makeInstallFixtures(caDirs[1]!);
  });
  afterAll(() => {
    for (const d of caDirs) rmSync(d, { recursive: true, force: true });
  });
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "rota-rb-"));
    files = createFilesystemInstall("files", { dir, uid: undefined, gid: undefined });
    await files.install(fx.first, signal);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("a complete set is present, with the leaf", async () => {
    expect(await readBack()).toMatchObject({ state: "present", leafPem: fx.first.leafPem, stamp: expect.any(String) });
  });

  test("the stamp stays while the set is untouched and changes with a new install", async () => {
    const stampOf = (r: ReadBack) => (r.state === "present" ? r.stamp : undefined);
    const first = stampOf(await readBack());
    expect(stampOf(await readBack())).toBe(first);
    await files.install(fx.second, signal);
    expect(stampOf(await readBack())).not.toBe(first);
  });

  test("an empty folder, or none, is absent", async () => {
    for (const f of ["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"]) rmSync(at(f));
    expect(await readBack()).toEqual({ state: "absent" });
    rmSync(join(dir, "www"), { recursive: true });
    expect(await readBack()).toEqual({ state: "absent" });
  });

  test.each(["privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"])("%s deleted: damaged, the file named", async (file) => {
    rmSync(at(file));
    expect(await readBack()).toEqual(damaged(`${file} is missing`));
  });

  test("an emptied file", async () => {
    writeFileSync(at("fullchain.pem"), "");
    expect(await readBack()).toEqual(damaged("fullchain.pem is empty"));
  });

  test("a file replaced by a symlink, even to the right content", async () => {
    writeFileSync(join(dir, "elsewhere.pem"), fx.first.leafPem);
    rmSync(at("cert.pem"));
    symlinkSync(join(dir, "elsewhere.pem"), at("cert.pem"));
    expect(await readBack()).toEqual(damaged("cert.pem is a symlink"));
  });

  test("a folder where a file should be", async () => {
    rmSync(at("chain.pem"));
    mkdirSync(at("chain.pem"));
    expect(await readBack()).toEqual(damaged("chain.pem is not a regular file"));
  });

  test("the cert folder itself a symlink, or a file", async () => {
    const real = join(dir, "real");
    mkdirSync(real);
    rmSync(join(dir, "www"), { recursive: true });
    symlinkSync(real, join(dir, "www"));
    expect(await readBack()).toEqual(damaged("www is a symlink"));
    rmSync(join(dir, "www"));
    writeFileSync(join(dir, "www"), "");
    expect(await readBack()).toEqual(damaged("www is not a folder"));
  });

  test("wrong modes: the key readable by all, a certificate unreadable by the webserver", async () => {
    chmodSync(at("privkey.pem"), 0o644);
    expect(await readBack()).toEqual(damaged("privkey.pem has mode 0644, expected 0600"));
    chmodSync(at("privkey.pem"), 0o600);
    chmodSync(at("chain.pem"), 0o600);
    expect(await readBack()).toEqual(damaged("chain.pem has mode 0600, expected 0644"));
  });

  test("an owner or group other than the configured ones: the folder's first, then the files'", async () => {
    const { uid, gid } = statSync(at("privkey.pem"));
    const otherUid = createFilesystemInstall("files", { dir, uid: uid + 1, gid: undefined });
    expect(await readBack(otherUid)).toEqual(damaged(`www folder is owned by uid ${uid}, expected ${uid + 1}`));
    const otherGid = createFilesystemInstall("files", { dir, uid, gid: gid + 1 });
    expect(await readBack(otherGid)).toEqual(damaged(`www folder has group gid ${gid}, expected ${gid + 1}`));
    // Only the files' ownership off: the folder's is what the config says.
    const folder = statSync(join(dir, "www"));
    expect(await readBack(createFilesystemInstall("files", { dir, uid: folder.uid, gid: folder.gid }))).toMatchObject({ state: "present" });
  });

  describe("the folder <dir>/<cert id>", () => {
    test.each([
      [0o777, "www folder has mode 0777, writable by others"],
      [0o757, "www folder has mode 0757, writable by others"],
      [0o775, "www folder has mode 0775, writable by its group"],
    ])("mode %o, writable by others than its owner: damaged, even with every file as installed; install takes the write bits away", async (mode, reason) => {
      chmodSync(join(dir, "www"), mode);
      expect(await readBack()).toEqual(damaged(reason));
      await files.install(fx.first, signal);
      expect(statSync(join(dir, "www")).mode & 0o7777).toBe(mode & 0o755);
      expect(await readBack()).toMatchObject({ state: "present" });
    });

    test("a folder its owner made 0750 is left so: not damaged, and install does not widen it", async () => {
      chmodSync(join(dir, "www"), 0o750);
      expect(await readBack()).toMatchObject({ state: "present" });
      await files.install(fx.second, signal);
      expect(statSync(join(dir, "www")).mode & 0o7777).toBe(0o750);
    });
  });

  // Without `owner`, the expected owner is the daemon itself: it wrote the set. A chown needs root.
  describe.skipIf(process.getuid?.() !== 0)("without owner: a file or the folder handed to another user (as root)", () => {
    const NOBODY = 65534;

    test("privkey.pem owned by nobody: damaged; install writes the set anew, owned by the daemon", async () => {
      chownSync(at("privkey.pem"), NOBODY, -1);
      expect(await readBack()).toEqual(damaged(`privkey.pem is owned by uid ${NOBODY}, expected 0`));
      await files.install(fx.first, signal);
      expect(statSync(at("privkey.pem")).uid).toBe(0);
      expect(await readBack()).toMatchObject({ state: "present" });
    });

    test("cert.pem owned by nobody: damaged, the file named", async () => {
      chownSync(at("cert.pem"), NOBODY, -1);
      expect(await readBack()).toEqual(damaged(`cert.pem is owned by uid ${NOBODY}, expected 0`));
    });

    test("a daemon that is not root cannot chown: it writes the file anew, owned by itself", async () => {
      // The daemon is user nobody here; root (another user to it) takes the key.
      const own = mkdtempSync(join(tmpdir(), "rota-rb-nobody-"));
      try {
        chownSync(own, NOBODY, NOBODY);
        writeFileSync(join(own, "req.json"), JSON.stringify(fx.first));
        const asNobody = (step: string) => {
          const script = `
            import { createFilesystemInstall } from ${JSON.stringify(join(import.meta.dir, "filesystem.ts"))};
            const files = createFilesystemInstall("files", { dir: ${JSON.stringify(own)}, uid: undefined, gid: undefined });
            const signal = new AbortController().signal;
            if (${JSON.stringify(step)} === "install") await files.install(JSON.parse(await Bun.file(${JSON.stringify(join(own, "req.json"))}).text()), signal);
            const r = await files.readBack("www", signal);
            console.log(JSON.stringify(r.state === "damaged" ? r : { state: r.state }));`;
          const p = Bun.spawnSync(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, "-e", script], {
            env: { PATH: process.env.PATH, HOME: own, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
            stdout: "pipe",
            stderr: "pipe",
          });
          if (p.exitCode !== 0) throw new Error(p.stderr.toString());
          return JSON.parse(p.stdout.toString()) as unknown;
        };
        expect(asNobody("install")).toEqual({ state: "present" });
        chownSync(join(own, "www", "privkey.pem"), 0, 0);
        expect(asNobody("read")).toEqual(damaged(`privkey.pem is owned by uid 0, expected ${NOBODY}`));
        expect(asNobody("install")).toEqual({ state: "present" });
        expect(statSync(join(own, "www", "privkey.pem")).uid).toBe(NOBODY);
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    });

    test("the folder owned by nobody: damaged; install chowns it back", async () => {
      chownSync(join(dir, "www"), NOBODY, -1);
      expect(await readBack()).toEqual(damaged(`www folder is owned by uid ${NOBODY}, expected 0`));
      await files.install(fx.first, signal);
      expect(statSync(join(dir, "www")).uid).toBe(0);
      expect(await readBack()).toMatchObject({ state: "present" });
    });
  });

  test("a key that is not a key: damaged, and nothing of the file in the reason", async () => {
    const secret = "-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVU\n-----END PRIVATE KEY-----\n";
    writeFileSync(at("privkey.pem"), secret, { mode: 0o600 });
    const r = await readBack();
    expect(r).toEqual(damaged("privkey.pem cannot be parsed as a private key"));
    expect(JSON.stringify(r)).not.toContain("U0VDUkVU");
  });

  test("a different key", async () => {
    writeFileSync(at("privkey.pem"), generateKeyPem("ecdsa-p256"));
    expect(await readBack()).toEqual(damaged("privkey.pem does not match the certificate in cert.pem"));
  });

  test("a cert.pem without exactly one certificate, or unparseable", async () => {
    writeFileSync(at("cert.pem"), fx.first.leafPem + fx.first.chainPem);
    expect(await readBack()).toEqual(damaged("cert.pem holds 2 certificates, expected 1"));
    writeFileSync(at("cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    expect(await readBack()).toEqual(damaged("cert.pem cannot be parsed"));
  });

  test("a chain without a certificate, or from another CA", async () => {
    writeFileSync(at("chain.pem"), "not a certificate\n");
    expect(await readBack()).toEqual(damaged("chain.pem holds no certificate"));
    writeFileSync(at("chain.pem"), otherCa.first.chainPem);
    expect(await readBack()).toEqual(damaged("chain.pem does not issue the certificate in cert.pem"));
  });

  test("a chain naming the right issuer but signed by another key", async () => {
    // The leaf itself as its own "issuer": the names differ, and so would the signature.
    writeFileSync(at("chain.pem"), fx.second.leafPem);
    expect(await readBack()).toEqual(damaged("chain.pem does not issue the certificate in cert.pem"));
  });

  test("a fullchain that is not cert.pem followed by chain.pem", async () => {
    writeFileSync(at("fullchain.pem"), fx.first.leafPem);
    expect(await readBack()).toEqual(damaged("fullchain.pem is not cert.pem followed by chain.pem"));
    writeFileSync(at("fullchain.pem"), fx.second.leafPem + fx.first.chainPem);
    expect(await readBack()).toEqual(damaged("fullchain.pem is not cert.pem followed by chain.pem"));
  });

  test("an unchanged set is unchanged to a caller keeping its leaf, and read again for one that does not; any change is judged again", async () => {
    const first = (await readBack()) as Extract<ReadBack, { state: "present" }>;
    const knowing = () => files.readBack("www", signal, { known: first.stamp });
    expect(await knowing()).toEqual({ state: "unchanged", stamp: first.stamp! });
    // The cache keeps no leaf: a caller without the stamp is given it, read from the file again.
    expect(await readBack()).toEqual(first);
    writeFileSync(at("fullchain.pem"), readFileSync(at("fullchain.pem")));
    // The same leaf, under a new stamp: the file was written.
    const { stamp, ...same } = first;
    expect(await knowing()).toEqual({ ...same, stamp: expect.not.stringMatching(`^${stamp}$`) });
    chmodSync(at("cert.pem"), 0o640);
    expect(await knowing()).toEqual(damaged("cert.pem has mode 0640, expected 0644"));
    expect(await knowing()).toEqual(damaged("cert.pem has mode 0640, expected 0644"));
  });

  test("compact() copies the cache and changes no answer: unchanged, damaged and a new write all read as before", async () => {
    const reader = createSetReader("filesystem files", { dir, uid: undefined, gid: undefined });
    const first = (await reader("www", signal)) as Extract<ReadBack, { state: "present" }>;
    reader.compact();
    expect(await reader("www", signal, { known: first.stamp })).toEqual({ state: "unchanged", stamp: first.stamp! });
    reader.compact();
    reader.compact();
    expect(await reader("www", signal, { known: first.stamp })).toEqual({ state: "unchanged", stamp: first.stamp! });
    chmodSync(at("cert.pem"), 0o640);
    expect(await reader("www", signal, { known: first.stamp })).toEqual(damaged("cert.pem has mode 0640, expected 0644"));
    reader.compact();
    expect(await reader("www", signal, { known: first.stamp })).toEqual(damaged("cert.pem has mode 0640, expected 0644"));
    chmodSync(at("cert.pem"), 0o644);
    reader.compact();
    expect(await reader("www", signal, { known: first.stamp })).toMatchObject({ state: "present", leafPem: first.leafPem });
  });

  test("a target that cannot be read is an error, not absent", async () => {
    const notADir = join(dir, "plain-file");
    writeFileSync(notADir, "");
    const broken = createFilesystemInstall("files", { dir: notADir, uid: undefined, gid: undefined });
    const err = await readBack(broken).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "read_failed" });
    expect((err as Error).message).toStartWith(`filesystem files: cannot read ${join(notADir, "www")}: `);
  });
});

describe("filesystem read-back in a sweep", () => {
  let fx: InstallFixtures;
  let caDir: string;
  let dir: string;
  let files: ReadableInstall;
  const signal = new AbortController().signal;
  const cfg = () => ({ dir, uid: undefined, gid: undefined });
  const at = (name: string) => join(dir, "www", name);
  const damaged = (reason: string): ReadBack => ({ state: "damaged", reason });

  beforeAll(async () => {
    caDir = mkdtempSync(join(tmpdir(), "rota-rb-ca-"));
    fx = await makeInstallFixtures(caDir);
  });
  afterAll(() => rmSync(caDir, { recursive: true, force: true }));
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "rota-rb-sweep-"));
    files = createFilesystemInstall("files", cfg());
    await files.install(fx.first, signal);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("with a real watch, each change to a set is seen by the next sweep", async () => {
    const hints = new FolderWatch(dir, systemClock, async () => 0xef53);
    const read = createSetReader("filesystem files", cfg(), { hints });
    // As the scheduler does: the stamp of the last leaf it was given goes with each read.
    let known: string | undefined;
    const sweep = async () => {
      const r = await read("www", signal, { sweep: {}, known });
      if (r.state === "present") known = r.stamp;
      return r;
    };
    // The first reads find out the folder is local and start the watch; from then on the set is not read while it is unchanged.
    await sweep();
    await hints.ready();
    known = undefined;
    const present = await sweep();
    expect(present).toMatchObject({ state: "present", leafPem: fx.first.leafPem });
    expect(await sweep()).toEqual({ state: "unchanged", stamp: known! });

    const cases: [() => void, ReadBack][] = [
      [() => rmSync(at("privkey.pem")), damaged("privkey.pem is missing")],
      [() => writeFileSync(at("fullchain.pem"), ""), damaged("fullchain.pem is empty")],
      [() => chmodSync(at("cert.pem"), 0o600), damaged("cert.pem has mode 0600, expected 0644")],
      [() => writeFileSync(at("privkey.pem"), generateKeyPem("ecdsa-p256")), damaged("privkey.pem does not match the certificate in cert.pem")],
      [() => (rmSync(at("chain.pem")), symlinkSync(at("fullchain.pem"), at("chain.pem"))), damaged("chain.pem is a symlink")],
      [() => (rmSync(join(dir, "www"), { recursive: true }), mkdirSync(join(dir, "real")), symlinkSync(join(dir, "real"), join(dir, "www"))), damaged("www is a symlink")],
    ];
    for (const [damage, expected] of cases) {
      damage();
      expect(await sweep()).toEqual(expected);
      rmSync(join(dir, "www"), { recursive: true, force: true });
      rmSync(join(dir, "real"), { recursive: true, force: true });
      await files.install(fx.first, signal);
      expect(await sweep()).toMatchObject({ state: "present", leafPem: fx.first.leafPem });
      // Trusted again: the verdict comes from the cache.
      expect(await sweep()).toEqual({ state: "unchanged", stamp: known! });
    }
  });

  test("with a real watch, an extra file is part of the set: its removal or a change to it is seen by the next sweep, and an install puts it back", async () => {
    const combined: ExtraFile = { file: "combined.pem", mode: 0o600, data: ({ key, leaf, chain }) => key + leaf + chain, holds: "privkey.pem followed by fullchain.pem" };
    const withExtra = createFilesystemInstall("files", cfg(), { extras: [combined] });
    await withExtra.install(fx.first, signal);
    const hints = new FolderWatch(dir, systemClock, async () => 0xef53);
    const read = createSetReader("filesystem files", cfg(), { hints }, [combined]);
    let known: string | undefined;
    const sweep = async () => {
      const r = await read("www", signal, { sweep: {}, known });
      if (r.state === "present") known = r.stamp;
      return r;
    };
    await sweep();
    await hints.ready();
    known = undefined;
    expect(await sweep()).toMatchObject({ state: "present", leafPem: fx.first.leafPem });
    expect(await sweep()).toEqual({ state: "unchanged", stamp: known! });

    const cases: [() => void, ReadBack][] = [
      [() => rmSync(at("combined.pem")), damaged("combined.pem is missing")],
      [() => chmodSync(at("combined.pem"), 0o640), damaged("combined.pem has mode 0640, expected 0600")],
      [() => writeFileSync(at("combined.pem"), fx.first.privateKeyPem + fx.first.leafPem), damaged("combined.pem is not privkey.pem followed by fullchain.pem")],
    ];
    for (const [damage, expected] of cases) {
      damage();
      expect(await sweep()).toEqual(expected);
      await withExtra.install(fx.first, signal);
      expect(await sweep()).toMatchObject({ state: "present", leafPem: fx.first.leafPem });
      expect(await sweep()).toEqual({ state: "unchanged", stamp: known! });
    }
    expect(readFileSync(at("combined.pem"), "utf8")).toBe(fx.first.privateKeyPem + fx.first.leafPem + fx.first.chainPem);
  });

  test("a sweep answers from the hints until the set's time to be read again; a read outside a sweep goes to the disk", async () => {
    const clock = new FakeClock();
    // Hints that report nothing at all: what a sweep answers then shows whether it read the disk.
    const quiet: ChangeHints = { mark: () => 1, fence: async () => true, unchangedSince: () => true };
    const read = createSetReader("filesystem files", cfg(), { hints: quiet, clock });
    const present = (await read("www", signal, { sweep: {} })) as Extract<ReadBack, { state: "present" }>;
    const known = present.stamp;
    rmSync(at("privkey.pem"));
    expect(await read("www", signal, { sweep: {}, known })).toEqual({ state: "unchanged", stamp: known! });
    await clock.advance(VERIFY_EVERY_MS);
    expect(await read("www", signal, { sweep: {}, known })).toEqual(damaged("privkey.pem is missing"));

    await files.install(fx.first, signal);
    expect(await read("www", signal)).toMatchObject({ state: "present" });
    rmSync(at("cert.pem"));
    expect(await read("www", signal)).toEqual(damaged("cert.pem is missing"));
  });

  test("a sweep whose caller keeps no leaf reads the disk, hints or not: the cache holds no leaf to answer with", async () => {
    const quiet: ChangeHints = { mark: () => 1, fence: async () => true, unchangedSince: () => true };
    const read = createSetReader("filesystem files", cfg(), { hints: quiet });
    const present = (await read("www", signal, { sweep: {} })) as Extract<ReadBack, { state: "present" }>;
    expect(await read("www", signal, { sweep: {} })).toEqual(present);
    expect(await read("www", signal, { sweep: {}, known: "another stamp" })).toEqual(present);
    rmSync(at("chain.pem"));
    expect(await read("www", signal, { sweep: {} })).toEqual(damaged("chain.pem is missing"));
  });

  test("hints that cannot vouch for a sweep (no watch, no fence) send it to the disk", async () => {
    const noFence: ChangeHints = { mark: () => 1, fence: async () => false, unchangedSince: () => true };
    const unwatched: ChangeHints = { mark: () => null, fence: async () => true, unchangedSince: () => true };
    for (const hints of [noFence, unwatched]) {
      await files.install(fx.first, signal);
      const read = createSetReader("filesystem files", cfg(), { hints });
      await read("www", signal, { sweep: {} });
      rmSync(at("chain.pem"));
      expect(await read("www", signal, { sweep: {} })).toEqual(damaged("chain.pem is missing"));
    }
  });

  test("each cert is read again at its own moment of the period, the same in every period", async () => {
    const clock = new FakeClock();
    let reads = 0;
    const quiet: ChangeHints = { mark: () => (reads++, 1), fence: async () => true, unchangedSince: () => true };
    const ids = Array.from({ length: 40 }, (_, i) => `c${i}`);
    for (const id of ids) await files.install({ ...fx.first, certId: id }, signal);
    const read = createSetReader("filesystem files", cfg(), { hints: quiet, clock });
    const stamps = new Map<string, string | undefined>();
    for (const id of ids) {
      const r = await read(id, signal, { sweep: {} });
      stamps.set(id, r.state === "present" ? r.stamp : undefined);
    }
    const perQuarter: number[] = [];
    for (let q = 0; q < 8; q++) {
      reads = 0;
      await clock.advance(VERIFY_EVERY_MS / 4);
      for (const id of ids) await read(id, signal, { sweep: {}, known: stamps.get(id) });
      perQuarter.push(reads);
    }
    // Spread over the period, not all at once; every cert once per period.
    expect(Math.max(...perQuarter)).toBeLessThan(ids.length);
    expect(perQuarter.slice(0, 4).reduce((a, b) => a + b)).toBe(ids.length);
    expect(perQuarter.slice(4).reduce((a, b) => a + b)).toBe(ids.length);
  });
});
