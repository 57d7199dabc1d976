/**
 * End to end: dist/rota against pebble 2.10 from Debian testing (ARI, profiles; fetched by
 * scripts/test-deps.sh into .cache/pebble, skipped with the reason when absent). A
 * `shortlived` profile gives that lifetime; a profile the CA does not offer fails naming the
 * offered ones without ever placing an order; a forced renewal's order carries `replaces`
 * (pebble logs `is a replacement of`), or, for a serial whose certID needs the 0x00 byte
 * pebble 2.10 files without, is ordered again without it after pebble's serverInternal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { pebble210, runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { ariCertId, shortCertId } from "../../src/backends/ca/acme/cert-id.ts";
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
const submitMessage = (row: AuditRow) => row.events.find((e) => e.step === "submit" && e.status !== "started")?.message ?? "";

beforeAll(async () => {
  if (skip) return;
  world = await startWorld({ binary: (found as { binary: string }).binary, profiles: PROFILES });
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
    expect(submitMessage(row)).toMatch(/^order placed with pebble \(profile shortlived\); 1 challenge\(s\) to solve$/);
  });

  test("a profile the CA does not offer fails naming the offered ones, before any order", async () => {
    const row = await waitForRenewal(world.socket, "odd", (r) => r.status === "failed");
    expect(row.error).toBe('acme pebble: profile "tlsserver" is not offered; the CA offers: default, shortlived');
    expect(world.pebble.output()).not.toContain("odd.example.test");
  });

  test("a forced renewal's order carries replaces: the certID of the certificate it replaces", async () => {
    await waitForRenewal(world.socket, "www", (r) => r.status === "succeeded");
    const before = leaf("www");
    const certId = ariCertId(before.raw)!;
    expect(certId).not.toBeNull();
    const r = await runRota(["renew", "www", "--force", "--wait", "--socket", world.socket]);
    expect(r.code).toBe(0);
    const row = (await audit(world.socket, "www")).find((x) => x.trigger === "manual")!;
    expect(row.status).toBe("succeeded");
    // pebble 2.10 files a certificate under its serial without a leading 0x00 (issue 12 §3).
    const needsZero = Buffer.from(certId.split(".")[1]!, "base64url")[0] === 0;
    if (needsZero) {
      expect(submitMessage(row)).toBe("order placed with pebble (profile default, replaces refused (serverInternal), ordered without it); 1 challenge(s) to solve");
    } else {
      expect(submitMessage(row)).toBe(`order placed with pebble (profile default, replaces ${shortCertId(certId)}); 1 challenge(s) to solve`);
      await waitFor(() => world.pebble.output().includes("is a replacement of"), 5_000, 50, "pebble's replacement log line");
    }
    expect(leaf("www").serialNumber).not.toBe(before.serialNumber);
  });
});
