/**
 * End to end: dist/rota against pebble 2.10 from Debian testing (ARI, profiles; fetched by
 * scripts/test-deps.sh into .cache/pebble, skipped with the reason when absent). A
 * `shortlived` profile gives that lifetime; a profile the CA does not offer fails naming the
 * offered ones without ever placing an order; a forced renewal's order carries `replaces`
 * (pebble logs `is a replacement of`), or, for a serial whose certID needs the 0x00 byte
 * pebble 2.10 files without, is ordered again without it after pebble's serverInternal.
 * A certificate the test replaced itself (rota's account, a reused authorization) makes
 * pebble answer `alreadyReplaced`, and `--force` succeeds ordering without `replaces`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { Agent } from "node:https";
import * as acme from "acme-client";
import { join } from "node:path";
import { pebble210, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { ariCertId, shortCertId } from "../../src/backends/ca/acme/cert-id.ts";
import { createCsr } from "../../src/crypto/csr.ts";
import { generateKeyPem } from "../../src/crypto/keys.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, read, waitForRenewal, type AuditRow } from "./helpers.ts";

const found = pebble210();
const skip = "missing" in found ? found.missing : null;
if (skip) console.warn(`timing.test.ts: ${skip}`);

const DAY = 86_400;
/** pebble's own example lifetimes: 90 days, and 6 days for `shortlived`. */
const PROFILES = { default: { validityPeriod: 90 * DAY }, shortlived: { validityPeriod: 6 * DAY } };

let world: World;
let daemon: Daemon;

const leaf = (id: string) => new X509Certificate(read(join(world.certsDir, id, "cert.pem")));
/** Whether the certificate's ARI certID has a serial pebble 2.10 cannot find (a leading 0x00 byte). */
const needsZero = (certId: string) => Buffer.from(certId.split(".")[1]!, "base64url")[0] === 0;
const forceRenew = async (id: string) => expect((await runRota(["renew", id, "--force", "--wait", "--socket", world.socket])).code).toBe(0);
/** The submit step's message up to its challenge count (authorizations are reused here, so that count varies). */
const submitMessage = (row: AuditRow) => (row.events.find((e) => e.step === "submit" && e.status !== "started")?.message ?? "").replace(/; \d+ challenge\(s\) to solve$/, "; N challenge(s) to solve");

beforeAll(async () => {
  if (skip) return;
  // Authorizations are reused so the test can order a replacement itself on rota's account.
  world = await startWorld({ binary: (found as { binary: string }).binary, profiles: PROFILES, authzReusePercent: 100 });
  const config = world.writeConfig({
    daemon: { failure_cooldown_seconds: 3600 },
    certs: [
      { id: "www", domains: ["www.example.test"], extra: 'profile = "default"' },
      { id: "short", domains: ["short.example.test"], extra: 'profile = "shortlived"' },
      { id: "odd", domains: ["odd.example.test"], extra: 'profile = "tlsserver"' },
    ],
  });
  daemon = startDaemon(config, { env: world.env });
});

afterAll(async () => {
  await daemon?.stop();
  await world?.stop();
});

describe.skipIf(skip !== null)("ACME profiles and ARI on pebble 2.10", () => {
  test("a shortlived profile gives that lifetime, and the submit step names it", async () => {
    const row = await waitForRenewal(world.socket, "short", (r) => r.status === "succeeded");
    const c = leaf("short");
    const lifetime = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 1000;
    expect(Math.abs(lifetime - 6 * DAY)).toBeLessThan(120);
    expect(submitMessage(row)).toMatch(/^order placed with pebble \(profile shortlived\); N challenge\(s\) to solve$/);
  });

  test("a profile the CA does not offer fails naming the offered ones, before any order", async () => {
    const row = await waitForRenewal(world.socket, "odd", (r) => r.status === "failed");
    expect(row.error).toBe('acme pebble: profile "tlsserver" is not offered; the CA offers: default, shortlived');
    expect(world.pebble.output()).not.toContain("odd.example.test");
    // Said at start too, from the advisor's look at the directory.
    await waitFor(() => daemon.output().includes('cert odd: acme pebble: profile "tlsserver" is not offered; the CA offers: default, shortlived'), 10_000, 50, "the start-up warning");
  });

  test("a forced renewal's order carries replaces: the certID of the certificate it replaces", async () => {
    await waitForRenewal(world.socket, "www", (r) => r.status === "succeeded");
    const before = leaf("www");
    const certId = ariCertId(before.raw)!;
    expect(certId).not.toBeNull();
    await forceRenew("www");
    const row = (await audit(world.socket, "www")).find((x) => x.trigger === "manual")!;
    expect(row.status).toBe("succeeded");
    // pebble 2.10 files a certificate under its serial without a leading 0x00 (issue 12 §3).
    if (needsZero(certId)) {
      expect(submitMessage(row)).toBe("order placed with pebble (profile default, replaces refused (serverInternal), ordered without it); N challenge(s) to solve");
    } else {
      expect(submitMessage(row)).toBe(`order placed with pebble (profile default, replaces ${shortCertId(certId)}); N challenge(s) to solve`);
      await waitFor(() => world.pebble.output().includes("is a replacement of"), 5_000, 50, "pebble's replacement log line");
    }
    expect(leaf("www").serialNumber).not.toBe(before.serialNumber);
  });

  test("a certificate already replaced: pebble answers alreadyReplaced and --force orders without replaces", async () => {
    // A serial pebble cannot find would answer serverInternal instead: renew until one it can.
    for (let i = 0; i < 5 && needsZero(ariCertId(leaf("www").raw)!); i++) await forceRenew("www");
    const certId = ariCertId(leaf("www").raw)!;
    expect(needsZero(certId)).toBe(false);
    // What a crash between finalize and persist leaves: a replacement the store never saw.
    acme.axios.defaults.httpsAgent = new Agent({ ca: read(world.pebble.caBundlePath) });
    const client = new acme.Client({ directoryUrl: world.pebble.directoryUrl, accountKey: read(join(world.stateDir, "acme", "pebble", "account.key")) });
    await client.createAccount({ termsOfServiceAgreed: true, contact: ["mailto:ops@example.test"] });
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: "www.example.test" }], profile: "default", replaces: certId } as Parameters<typeof client.createOrder>[0]);
    expect((await client.getAuthorizations(order)).map((a) => a.status)).toEqual(["valid"]);
    const finalized = await client.finalizeOrder(order, await createCsr(["www.example.test"], generateKeyPem("ecdsa-p256")));
    if (finalized.status !== "valid") await client.waitForValidStatus(finalized);

    const since = new Date().toISOString();
    await forceRenew("www");
    const row = (await audit(world.socket, "www")).find((x) => x.trigger === "manual" && x.started_at >= since)!;
    expect(row.status).toBe("succeeded");
    expect(submitMessage(row)).toBe("order placed with pebble (profile default, replaces refused (alreadyReplaced), ordered without it); N challenge(s) to solve");
  });
});
