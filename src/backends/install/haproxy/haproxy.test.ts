/**
 * @module HaproxyInstall against a real HAProxy 2.6 on loopback: the install contract, the
 * hot swap seen through a TLS handshake with the PID unchanged, and each fault (missing
 * socket, refused commit, unreferenced path) with no transaction left open.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { freePort, makeTempDir, removeTempDir, startHaproxy, waitFor, type Haproxy } from "../../../../test/harness/index.ts";
import { systemClock } from "../../../clock.ts";
import { describeError } from "../../../errors.ts";
import type { InstallRequest, ReadableInstall } from "../../types.ts";
import { makeInstallFixtures, runInstallContract, type InstallFixtures } from "../contract.ts";
import type { Endpoint } from "./client.ts";
import type { HaproxyConfig } from "./config.ts";
import { RELOAD_LOAD_WAIT_MS } from "./after-reload.ts";
import { createHaproxyInstall, createHaproxyTarget } from "./haproxy.ts";

let root: string;
let certs: string;
let haproxy: Haproxy;
let www: InstallFixtures;
let api: InstallFixtures;
/** What HAProxy loads at start for each path: a certificate rota never installs. */
let placeholder: { www: InstallRequest; api: InstallRequest };

const bundleOf = (r: InstallRequest) => r.leafPem + r.chainPem + r.privateKeyPem;
const serialOf = (r: InstallRequest) => new X509Certificate(r.leafPem).serialNumber.toLowerCase();
const signal = new AbortController().signal;

beforeAll(async () => {
  root = makeTempDir("rota-haproxy-");
  certs = join(root, "certs");
  const [a, b, c, d] = await Promise.all(["www", "api", "www", "api"].map((id, i) => makeInstallFixtures(makeTempDir(`rota-haproxy-ca${i}-`), id)));
  www = a!;
  api = b!;
  placeholder = { www: c!.first, api: d!.first };
  Bun.spawnSync(["mkdir", "-p", certs]);
  writeFileSync(join(certs, "www.pem"), bundleOf(placeholder.www), { mode: 0o600 });
  writeFileSync(join(certs, "api.pem"), bundleOf(placeholder.api), { mode: 0o600 });
  haproxy = await startHaproxy({ dir: join(root, "haproxy"), crts: [join(certs, "www.pem"), join(certs, "api.pem")], tcpSocket: true, userSocket: true });
});

afterAll(async () => {
  await haproxy?.stop();
  if (root) removeTempDir(root);
});

/** A backend over the test's HAProxy, with `over` replacing config keys. */
function backend(over: Partial<HaproxyConfig> = {}): ReadableInstall {
  const cfg: HaproxyConfig = {
    dir: certs,
    sockets: [{ kind: "unix", path: haproxy.socket }],
    ...over,
  };
  return createHaproxyInstall("lb", cfg, { stateDir: join(root, "state"), clock: systemClock, withheldEnv: () => [] });
}

const command = (key: string, argv: string[]) => ({ key, argv, timeoutSeconds: 10 });

/** Puts a certificate into HAProxy's memory behind rota's back (as a restart from another file would). */
async function serveBehindTheBack(path: string, r: InstallRequest): Promise<void> {
  const payload = bundleOf(r).split("\n").filter((l) => l.trim() !== "").join("\n");
  expect(await haproxy.send(`set ssl cert ${path} <<\n${payload}\n`)).toContain("Transaction");
  expect(await haproxy.send(`commit ssl cert ${path}`)).toContain("Success!");
}

/** The HAProxy process as `show info` names it: what rota's messages call it. */
const processName = async () => `${/^node: (.*)$/m.exec(await haproxy.send("show info"))![1]!.trim()}/${await haproxy.pid()}`;

/** Transactions left open: `show ssl cert` lists them with a `*`. */
async function openTransactions(): Promise<string[]> {
  return (await haproxy.send("show ssl cert")).split("\n").filter((l) => l.startsWith("*"));
}

/** The error's text, or "null" when `p` resolved. */
const failureOf = async (p: Promise<unknown>) => {
  const err = await p.then(() => null, (e: unknown) => e);
  return err === null ? "null" : describeError(err);
};

runInstallContract("haproxy", true, () => {
  // HAProxy keeps what it loaded at start in memory: the file can go, so "nothing installed" reads as absent.
  rmSync(join(certs, "www.pem"), { force: true });
  return {
    backend: backend(),
    damage: (certId) => serveBehindTheBack(join(certs, `${certId}.pem`), placeholder.www),
  };
});

describe("haproxy install against a real HAProxy", () => {
  beforeEach(async () => {
    expect(await openTransactions()).toEqual([]);
  });

  test("writes the bundle 0600 (leaf, chain, key) and swaps it in: served at once, same PID", async () => {
    const pid = await haproxy.pid();
    await backend().install(www.first, signal);
    const path = join(certs, "www.pem");
    expect(readFileSync(path, "utf8")).toBe(bundleOf(www.first));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(www.first));
    await backend().install(www.second, signal);
    expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(www.second));
    expect(await haproxy.pid()).toBe(pid);
    expect(await backend().readBack("www", signal)).toEqual({ state: "present", leafPem: www.second.leafPem });
  });

  test("a dir that does not exist yet is created; a symlink at the bundle's path is refused", async () => {
    const fresh = join(root, "fresh", "certs");
    await backend({ dir: fresh, sockets: [], reload: command("reload_command", ["true"]) }).install(www.first, signal);
    expect(readFileSync(join(fresh, "www.pem"), "utf8")).toBe(bundleOf(www.first));
    rmSync(join(fresh, "www.pem"));
    symlinkSync(join(root, "elsewhere.pem"), join(fresh, "www.pem"));
    await expect(backend({ dir: fresh, sockets: [], reload: command("reload_command", ["true"]) }).install(www.first, signal)).rejects.toMatchObject({ code: "symlink_refused" });
    expect(existsSync(join(root, "elsewhere.pem"))).toBe(false);
  });

  test("a PEM with blank lines between its blocks is swapped whole", async () => {
    const spaced = { ...www.first, leafPem: `${www.first.leafPem}\n\n`, chainPem: `\n${www.first.chainPem}\n` };
    await backend().install(spaced, signal);
    expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(www.first));
  });

  test("two certs swapped at once on one socket: both served, no interleaving", async () => {
    await Promise.all([backend().install(www.second, signal), backend().install(api.second, signal)]);
    expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(www.second));
    expect(await haproxy.servedSerial("api.example.com")).toBe(serialOf(api.second));
    await Promise.all([backend().install(www.first, signal), backend().install(api.first, signal)]);
    expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(www.first));
    expect(await haproxy.servedSerial("api.example.com")).toBe(serialOf(api.first));
  });

  test("two certs swapped at once through two sockets of one HAProxy (its one transaction): each name serves its own certificate", async () => {
    const both = backend({ sockets: [{ kind: "unix", path: haproxy.socket }, { kind: "tcp", host: "127.0.0.1", port: haproxy.socketPort! }] });
    for (let round = 0; round < 20; round++) {
      const [w, a] = round % 2 === 0 ? [www.second, api.second] : [www.first, api.first];
      const outcomes = await Promise.allSettled([both.install(w!, signal), both.install(a!, signal)]);
      expect(outcomes.map((o) => (o.status === "fulfilled" ? "ok" : describeError(o.reason)))).toEqual(["ok", "ok"]);
      expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(w!));
      expect(await haproxy.servedSerial("api.example.com")).toBe(serialOf(a!));
    }
  });

  test("read-backs during another cert's swaps in the same HAProxy: none refused for HAProxy's certificate lock", async () => {
    const lb = backend();
    await lb.install(api.first, signal);
    for (let round = 0; round < 30; round++) {
      const reads = Array.from({ length: 4 }, () => lb.readBack("api", signal).catch((e: unknown) => describeError(e)));
      const [, ...got] = await Promise.all([lb.install(round % 2 === 0 ? www.second : www.first, signal), ...reads]);
      expect(got).toEqual(Array(4).fill({ state: "present", leafPem: api.first.leafPem }));
    }
  });

  test("a missing socket: the step fails saying it could not connect and nothing changed there; the file is written; read-back cannot tell", async () => {
    const missing: Endpoint = { kind: "unix", path: join(root, "nowhere.sock") };
    const lb = backend({ sockets: [missing] });
    const err = await failureOf(lb.install(www.second, signal));
    expect(err).toBe(
      `haproxy lb: ${join(certs, "www.pem")} holds serial ${serialOf(www.second)}, but ${missing.path}: cannot connect: connect ENOENT ${missing.path}; nothing was changed through that socket`,
    );
    expect(readFileSync(join(certs, "www.pem"), "utf8")).toBe(bundleOf(www.second));
    await expect(lb.readBack("www", signal)).rejects.toMatchObject({ code: "read_failed" });
  });

  test("a TCP socket nobody listens on (ECONNREFUSED) beside a live one: that one could not connect, nothing changed through it; the live one swapped", async () => {
    const port = await freePort();
    const lb = backend({ sockets: [{ kind: "tcp", host: "127.0.0.1", port }, { kind: "unix", path: haproxy.socket }] });
    const err = await failureOf(lb.install(www.second, signal));
    expect(err).toBe(
      `haproxy lb: ${join(certs, "www.pem")} holds serial ${serialOf(www.second)}, but 127.0.0.1:${port}: cannot connect: connect ECONNREFUSED 127.0.0.1:${port}; nothing was changed through that socket`,
    );
    expect(err).not.toContain("transaction");
    expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(www.second));
  });

  test("a second socket into the same process that may not swap (level user): the step fails on it, saying that process serves the new certificate; its read-back says what its level lacks", async () => {
    const path = join(certs, "www.pem");
    const admin: Endpoint = { kind: "unix", path: haproxy.socket };
    const user: Endpoint = { kind: "tcp", host: "127.0.0.1", port: haproxy.userSocketPort! };
    const where = `127.0.0.1:${haproxy.userSocketPort}`;
    for (const [sockets, r] of [[[admin, user], www.second], [[user, admin], www.first]] as const) {
      const err = await failureOf(backend({ sockets: [...sockets] }).install(r, signal));
      expect(err).toBe(
        `haproxy lb: ${path} holds serial ${serialOf(r)}, but ${where}: set ssl cert ${path} refused: Permission denied (a swap needs "stats socket … level admin"); ` +
          `${where} reaches the same HAProxy process (${await processName()}) as ${haproxy.socket}, which serves the new certificate`,
      );
      expect(err).not.toContain("previous certificate");
      expect(err).not.toContain("transaction");
      expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(r));
    }
    await expect(backend({ sockets: [admin, user] }).readBack("www", signal)).rejects.toMatchObject({
      code: "read_failed",
      message: `haproxy lb: ${where}: show ssl cert ${path} refused: Can't allocate memory! (HAProxy 2.6's answer to a socket below "level operator": is it "level admin"?)`,
    });
  });

  test("a commit HAProxy refuses (key and certificate do not match): aborted, the old serial still served, drift reported", async () => {
    await backend().install(www.first, signal);
    const tampered = { ...www.second, privateKeyPem: api.second.privateKeyPem };
    const err = await failureOf(backend().install(tampered, signal));
    expect(err).toContain(`${haproxy.socket}: commit ssl cert ${join(certs, "www.pem")} refused: inconsistencies between private key and certificate`);
    expect(await openTransactions()).toEqual([]);
    expect(await haproxy.servedSerial("www.example.com")).toBe(serialOf(www.first));
    expect(await backend().readBack("www", signal)).toEqual({ state: "damaged", reason: "www.pem: the private key does not match the certificate" });
  });

  test("a path HAProxy's config does not reference: the file is written, the step says what to add", async () => {
    const path = join(certs, "other.pem");
    const err = await failureOf(backend().install({ ...www.first, certId: "other" }, signal));
    expect(err).toBe(
      `haproxy lb: ${path} holds serial ${serialOf(www.first)}, but ${haproxy.socket} does not reference ${path}: ` +
        `add "crt ${path}" to a bind line (or a crt-list) of that HAProxy's config and reload it, or set reload_command`,
    );
    expect(existsSync(path)).toBe(true);
    expect(await openTransactions()).toEqual([]);
    expect(await backend().readBack("other", signal)).toEqual({ state: "damaged", reason: `${haproxy.socket} does not load ${path}` });
  });

  describe("reload_command for a path HAProxy does not load", () => {
    let marker: string;
    let conf: string;
    /** Installs cert `other` through a reload_command that only leaves a mark; `reload` then does what the reload would, after the command returned (as `systemctl reload` does). */
    async function installWhileReloading(reload: () => Promise<void>): Promise<string> {
      const install = failureOf(backend({ reload: command("reload_command", ["touch", marker]) }).install({ ...www.first, certId: "other" }, signal));
      await waitFor(() => existsSync(marker), 10_000, 20, "reload_command");
      await reload();
      return install;
    }

    beforeEach(async () => {
      marker = join(root, `reloaded-${Math.random().toString(36).slice(2)}`);
      conf = readFileSync(haproxy.cfgPath, "utf8");
      // A restart loads every crt line from disk: each must be there.
      await backend().install(www.first, signal);
      await backend().install(api.first, signal);
    });

    afterEach(async () => {
      if (readFileSync(haproxy.cfgPath, "utf8") === conf) return;
      writeFileSync(haproxy.cfgPath, conf);
      await haproxy.restart();
    });

    test("HAProxy comes back from the reload with a config naming the path: the step passes, the file's serial served there", async () => {
      const path = join(certs, "other.pem");
      expect(
        await installWhileReloading(async () => {
          writeFileSync(haproxy.cfgPath, conf.replace(`crt ${join(certs, "api.pem")}`, `crt ${join(certs, "api.pem")} crt ${path}`));
          await haproxy.restart();
        }),
      ).toBe("null");
      expect(/^Serial: (\w+)$/m.exec(await haproxy.send(`show ssl cert ${path}`))?.[1]?.toLowerCase().replace(/^0+/, "")).toBe(serialOf(www.first).replace(/^0+/, ""));
    });

    test("HAProxy comes back from the reload still without the path: the step fails at once, naming the new process and what to add", async () => {
      const path = join(certs, "other.pem");
      const started = Date.now();
      const err = await installWhileReloading(() => haproxy.restart());
      expect(Date.now() - started).toBeLessThan(RELOAD_LOAD_WAIT_MS);
      expect(err).toBe(
        `haproxy lb: ${path} holds serial ${serialOf(www.first)}, but ${haproxy.socket}: reloaded (now process ${await processName()}), ` +
          `but HAProxy still does not load ${path}: add "crt ${path}" to a bind line (or a crt-list) of that HAProxy's config`,
      );
      expect(await openTransactions()).toEqual([]);
    });

    test("a reload_command that reloads nothing: looked at until the bound (once for two sockets into the process), then the step fails, asking whether the command reloads this HAProxy", async () => {
      const path = join(certs, "other.pem");
      const before = await processName();
      const started = Date.now();
      const sockets: Endpoint[] = [{ kind: "unix", path: haproxy.socket }, { kind: "tcp", host: "127.0.0.1", port: haproxy.socketPort! }];
      const err = await failureOf(backend({ sockets, reload: command("reload_command", ["touch", marker]) }).install({ ...www.first, certId: "other" }, signal));
      expect(Date.now() - started).toBeLessThan(2 * RELOAD_LOAD_WAIT_MS);
      expect(existsSync(marker)).toBe(true);
      expect(err).toBe(
        `haproxy lb: ${path} holds serial ${serialOf(www.first)}, but ${haproxy.socket}: reload_command ran, but after ${RELOAD_LOAD_WAIT_MS / 1000} s HAProxy still does not load ${path} ` +
          `(process ${before}, from before the reload, still answers: does reload_command reload this HAProxy?): add "crt ${path}" to a bind line (or a crt-list) of that HAProxy's config`,
      );
      expect(existsSync(path)).toBe(true);
      expect(await openTransactions()).toEqual([]);
    }, 30_000);

    test("with no sockets the command is the whole swap; its failure fails the step", async () => {
      await backend({ sockets: [], reload: command("reload_command", ["touch", marker]) }).install(www.first, signal);
      expect(existsSync(marker)).toBe(true);
      const failing = await failureOf(backend({ sockets: [], reload: command("reload_command", ["false"]) }).install(www.first, signal));
      expect(failing).toBe(`haproxy lb: ${join(certs, "www.pem")} holds serial ${serialOf(www.first)}, but haproxy lb: reload_command ["false"] exited with 1 (no output)`);
    });
  });

  test("post_install_command runs after the swap with the cert in its environment; its failure fails the step", async () => {
    const out = join(root, "deploy.env");
    const cmd = ["sh", "-c", `env | grep -E "^ROTA_(CERT_ID|DOMAINS|CERT_DIR|SERIAL)=" | sort > ${out}`];
    const target = (argv: string[]) =>
      createHaproxyTarget("lb", { dir: certs, sockets: [{ kind: "unix", path: haproxy.socket }], postInstall: command("post_install_command", argv) }, { stateDir: join(root, "state"), clock: systemClock, withheldEnv: () => [] });
    await target(cmd).install(www.first, signal);
    expect(readFileSync(out, "utf8")).toBe(
      [`ROTA_CERT_DIR=${certs}`, "ROTA_CERT_ID=www", "ROTA_DOMAINS=www.example.com", `ROTA_SERIAL=${serialOf(www.first)}`, ""].join("\n"),
    );
    const err = await failureOf(target(["sh", "-c", "echo no deploy >&2; exit 3"]).install(www.first, signal));
    expect(err).toBe('haproxy lb: post_install_command ["sh","-c","echo no deploy >&2; exit 3"] exited with 3: no deploy');
  });

  test("read-back judges the bundle as a restart would load it", async () => {
    const path = join(certs, "www.pem");
    const damaged = async (write: () => void, reason: string) => {
      await backend().install(www.first, signal);
      write();
      expect(await backend().readBack("www", signal)).toEqual({ state: "damaged", reason });
    };
    await damaged(() => chmodSync(path, 0o644), "www.pem has mode 0644, expected 0600");
    await damaged(() => writeFileSync(path, www.first.leafPem + www.first.privateKeyPem), "www.pem holds no chain after the certificate");
    await damaged(() => writeFileSync(path, www.first.leafPem + www.first.chainPem), "www.pem holds no private key");
    await damaged(() => writeFileSync(path, www.first.leafPem + api.first.chainPem + www.first.privateKeyPem), "www.pem: the chain does not issue the certificate");
    await damaged(() => writeFileSync(path, ""), "www.pem is empty");
  });

  test("read-back: a process serving another serial than the file is damaged, naming both", async () => {
    await backend().install(www.first, signal);
    await serveBehindTheBack(join(certs, "www.pem"), www.second);
    expect(await backend().readBack("www", signal)).toEqual({
      state: "damaged",
      reason: `${haproxy.socket} serves serial ${serialOf(www.second)}, www.pem holds ${serialOf(www.first)}`,
    });
    await backend().install(www.first, signal);
    expect(await backend().readBack("www", signal)).toEqual({ state: "present", leafPem: www.first.leafPem });
  });
});

describe("check (rota doctor)", () => {
  const ctx = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
  const check = (over: Partial<HaproxyConfig> = {}) =>
    createHaproxyInstall("lb", { dir: certs, sockets: [{ kind: "unix", path: haproxy.socket }], ...over }, { stateDir: join(root, "state"), clock: systemClock, withheldEnv: () => [] }).check(signal, ctx);

  test("the folder writable, and show info answered with HAProxy's version; no transaction opened", async () => {
    const [dir, info] = await check();
    expect(dir).toEqual({ status: "ok", message: `${certs} writable by root` });
    expect(info!.status).toBe("ok");
    expect(info!.message).toMatch(new RegExp(`^${haproxy.socket.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: HAProxy \\d+\\.\\d+\\S* answers$`));
    expect((await haproxy.send("show ssl cert")).split("\n").filter((l) => l.startsWith("*"))).toEqual([]);
  });

  test("a socket HAProxy answers on, but the service user may not connect to (mode 600, root's): a FAIL naming the stats socket line with the user's primary group (nobody: nogroup)", async () => {
    const nobody = { name: "nobody", uid: 65534, gid: 65534 };
    const [, info] = await createHaproxyInstall("lb", { dir: certs, sockets: [{ kind: "unix", path: haproxy.socket }] }, { stateDir: join(root, "state"), clock: systemClock, withheldEnv: () => [] }).check(signal, { ...ctx, user: nobody });
    expect(info).toEqual({
      status: "fail",
      message: `${haproxy.socket} (owner 0:0, 0600) cannot be opened by nobody, so the daemon could not connect`,
      hint: "give the service user the socket: stats socket … mode 660 group nogroup level admin",
    });
  });

  test("a socket nobody listens on is a FAIL with a hint; a TCP socket is skipped offline", async () => {
    const [, gone] = await check({ sockets: [{ kind: "unix", path: join(root, "no.sock") }] });
    expect(gone!.status).toBe("fail");
    expect(gone!.hint).toContain("stats socket … mode 660 group root level admin");
    const offline = await createHaproxyInstall("lb", { dir: certs, sockets: [{ kind: "tcp", host: "127.0.0.1", port: 1 }] }, { stateDir: join(root, "state"), clock: systemClock, withheldEnv: () => [] }).check(signal, {
      ...ctx,
      offline: true,
    });
    expect(offline[1]).toEqual({ status: "skip", message: "offline: 127.0.0.1:1 not asked" });
  });
});
