/**
 * End to end, on the local CA: the newest certificate is the one issued last, not the one
 * that expires last (issue 2 §4). After `validity_days` is cut from 90 to 30, a forced
 * renewal's certificate stays installed: the next looks neither put the older, longer one
 * back nor order another; a name added with the cut is ordered once, not at every tick; a
 * new key with a cut does not send the older certificate to verify against the new key.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, list, localCaConfig, serialOf, waitForFile } from "./helpers.ts";

let dir: string;
let config: string;
let socket: string;
let daemon: Daemon | undefined;

const certPem = () => join(dir, "certs", "app", "cert.pem");
const notAfterOf = (path: string) => new Date(new X509Certificate(readFileSync(path)).validTo);
const configWith = (days: number, domains: string[]) => localCaConfig({ domains }).replace('type = "local"', `type = "local"\nvalidity_days = ${days}`);

/**
 * The first debug line from log offset `from` on where the scheduler finds nothing to do for
 * `app` with fewer than `maxDays` left: it counted the new, shorter certificate as the newest.
 * (Taking the older one, it would say about 90 days, or decide to install or renew.)
 */
async function okLook(from: number, maxDays: number): Promise<string> {
  return waitFor(
    async () =>
      daemon!
        .output()
        .slice(from)
        .split("\n")
        .find((l) => {
          const m = / app: none: ok: ([\d.]+) days left/.exec(l);
          return m !== null && Number(m[1]) < maxDays;
        }),
    15_000,
    50,
    `a look at app finding nothing to do with < ${maxDays} days left`,
  );
}

beforeAll(async () => {
  dir = makeTempDir("rota-cut-");
  config = join(dir, "rota.toml");
  socket = join(dir, "rota.sock");
  writeFileSync(config, configWith(90, ["app.home.arpa"]));
  daemon = startDaemon(config, { args: ["daemon", "--config", config, "--log-level", "debug"] });
  await waitForFile(certPem());
  await waitFor(async () => (await list(socket).catch(() => []))[0]?.status === "ok", 15_000, 100, "status ok");
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

describe("validity_days cut from 90 to 30", () => {
  test("a forced renewal's shorter certificate stays installed: no re-install of the older one, list shows its expiry", async () => {
    const old = serialOf(certPem());
    const oldNotAfter = notAfterOf(certPem());
    writeFileSync(config, configWith(30, ["app.home.arpa"]));
    expect((await runRota(["reload", "--config", config])).code).toBe(0);
    const from = daemon!.output().length;
    const renew = await runRota(["renew", "app", "--force", "--wait", "--config", config]);
    expect(renew.code).toBe(0);
    const fresh = serialOf(certPem());
    const freshNotAfter = notAfterOf(certPem());
    expect(fresh).not.toBe(old);
    expect(freshNotAfter.getTime()).toBeLessThan(oldNotAfter.getTime());
    const renewed = Date.now();

    await okLook(from, 31);
    expect(daemon!.output().slice(from)).not.toContain("does not serve the newest certificate");
    expect(serialOf(certPem())).toBe(fresh);
    const after = (await audit(socket, "app")).filter((r) => Date.parse(r.started_at) >= renewed);
    expect(after).toEqual([]);
    const row = (await list(socket))[0]!;
    expect(row.status).toBe("ok");
    expect(Date.parse(row.not_after!)).toBe(freshNotAfter.getTime());
  });

  test("a name added with a cut is ordered once; the looks after it find nothing to do", async () => {
    writeFileSync(config, configWith(20, ["app.home.arpa", "y.home.arpa"]));
    const since = Date.now();
    const from = daemon!.output().length;
    expect((await runRota(["reload", "--config", config])).code).toBe(0);
    const first = await waitFor(
      async () => (await audit(socket, "app")).find((r) => Date.parse(r.started_at) >= since && r.finished_at !== null),
      15_000,
      50,
      "the renewal for the added name",
    );
    expect(first.status).toBe("succeeded");
    const withY = serialOf(certPem());
    expect(new X509Certificate(readFileSync(certPem())).subjectAltName).toContain("DNS:y.home.arpa");

    await okLook(from, 21);
    expect((await audit(socket, "app")).filter((r) => Date.parse(r.started_at) >= since)).toHaveLength(1);
    expect(serialOf(certPem())).toBe(withY);
  });

  test("a new key with a cut: the fresh certificate stays, the older one is not tried against the new key", async () => {
    writeFileSync(config, configWith(10, ["app.home.arpa", "y.home.arpa"]));
    expect((await runRota(["reload", "--config", config])).code).toBe(0);
    const from = daemon!.output().length;
    const renew = await runRota(["renew", "app", "--force", "--new-key", "--wait", "--config", config]);
    expect(renew.code).toBe(0);
    const renewed = Date.now();
    const fresh = serialOf(certPem());
    expect(readFileSync(join(dir, "certs", "app", "privkey.pem"), "utf8")).toBe(readFileSync(join(dir, "state", "keys", "app.key"), "utf8"));

    await okLook(from, 11);
    expect(daemon!.output().slice(from)).not.toContain("cannot be installed");
    expect((await audit(socket, "app")).filter((r) => Date.parse(r.started_at) >= renewed)).toEqual([]);
    expect(serialOf(certPem())).toBe(fresh);
  });
});
