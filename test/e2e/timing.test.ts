/**
 * End to end: when the compiled rota renews. On Debian's pebble 2.4 (no ARI) a 40-s
 * certificate under an hourly sweep renews by the lifetime rule, at half its life, on time.
 * Then dist/rota against pebble 2.10 from Debian testing (ARI, profiles; fetched by
 * scripts/test-deps.sh into .cache/pebble, skipped with the reason when absent): a 90-day
 * certificate's renewal moment lies in pebble's ARI window and survives a restart; a window
 * set in the past (management API) makes a non-forced `rota renew` start an order carrying
 * `replaces`; a window set a few seconds ahead makes it answer not due, and a scheduled
 * renewal follows inside that window. A
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
import type { CertDetailJson } from "../../src/api/json.ts";
import { ariCertId, shortCertId } from "../../src/backends/ca/acme/cert-id.ts";
import { createCsr } from "../../src/crypto/csr.ts";
import { generateKeyPem } from "../../src/crypto/keys.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, list, read, waitForRenewal, type AuditRow, type ListRow } from "./helpers.ts";

const found = pebble210();
const skip = "missing" in found ? found.missing : null;
if (skip) console.warn(`timing.test.ts: ${skip}`);

const DAY = 86_400;
/** pebble's own example lifetimes: 90 days, and 6 days for `shortlived`. */
const PROFILES = { default: { validityPeriod: 90 * DAY }, shortlived: { validityPeriod: 6 * DAY } };

let world: World;
let daemon: Daemon;
let config: string;

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
  config = world.writeConfig({
    daemon: { failure_cooldown_seconds: 3600 },
    certs: [
      { id: "www", domains: ["www.example.test"], extra: 'profile = "default"' },
      { id: "ari", domains: ["ari.example.test"], extra: 'profile = "default"' },
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

describe("the lifetime rule on a CA without ARI (pebble 2.4)", () => {
  const L = 40;
  let lw: World;
  let ld: Daemon;

  beforeAll(async () => {
    lw = await startWorld({ validitySeconds: L });
    ld = startDaemon(lw.writeConfig({ daemon: { check_interval_seconds: 3600 } }), { env: lw.env });
  });

  afterAll(async () => {
    await ld?.stop();
    await lw?.stop();
  });

  test("a 40-s certificate under a 3600-s sweep renews at half its life, on time", async () => {
    await waitForRenewal(lw.socket, "www", (r) => r.trigger === "startup" && r.status === "succeeded");
    const row = await waitFor(async () => (await list(lw.socket)).find((c) => c.id === "www" && c.renew_at !== null && c.status === "ok"), 10_000, 50, "the first certificate's moment");
    const c = new X509Certificate(read(join(lw.certsDir, "www", "cert.pem")));
    const nb = Date.parse(c.validFrom);
    const na = Date.parse(c.validTo);
    const lifetime = na - nb;
    const renewAt = Date.parse(row.renew_at!);
    expect(row.renew_reason).toBe("lifetime");
    expect(row.ari_window).toBeNull();
    expect(renewAt).toBeGreaterThanOrEqual(nb + lifetime / 2 - lifetime / 20);
    expect(renewAt).toBeLessThanOrEqual(nb + lifetime / 2);
    expect(row.next_check).toBe(row.renew_at);
    // The moment timer, not the hourly sweep, renews it: started by the moment (and the
    // certificate's time resolution, 1 s), well before the old one expires.
    const scheduled = await waitForRenewal(lw.socket, "www", (r) => r.trigger === "scheduled" && r.status === "succeeded", 40_000);
    expect(Date.parse(scheduled.started_at)).toBeGreaterThanOrEqual(renewAt - 1_000);
    expect(Date.parse(scheduled.started_at)).toBeLessThanOrEqual(renewAt + 3_000);
    expect(scheduled.reason).toMatch(/^due: 0\.\d+ days left, renew at \S+ \(lifetime rule\)$/);
  });
});

/** Sets pebble 2.10's ARI answer for the certificate `id` serves now (its management API). */
async function setWindow(id: string, start: Date, end: Date): Promise<void> {
  const body = JSON.stringify({ Certificate: read(join(world.certsDir, id, "cert.pem")), ARIResponse: JSON.stringify({ suggestedWindow: { start: start.toISOString(), end: end.toISOString() } }) });
  const res = await fetch(`${world.pebble.managementUrl}/set-renewal-info/`, { method: "POST", body, tls: { ca: read(world.pebble.caBundlePath) } });
  expect(res.status).toBe(200);
}

const row = async (id: string): Promise<ListRow> => (await list(world.socket)).find((c) => c.id === id)!;
const detail = async (id: string): Promise<CertDetailJson> => JSON.parse((await runRota(["show", id, "--json", "--socket", world.socket])).stdout) as CertDetailJson;

describe.skipIf(skip !== null)("ARI windows on pebble 2.10", () => {
  test("a 90-day certificate renews inside pebble's window, and the window survives a restart unasked", async () => {
    await waitForRenewal(world.socket, "ari", (r) => r.status === "succeeded");
    const first = await waitFor(async () => {
      const r = await row("ari");
      return r.renew_reason === "ari" ? r : undefined;
    }, 15_000, 100, "pebble's ARI answer");
    const c = leaf("ari");
    // pebble 2.10: the ⅓ point before notAfter, ±24 h.
    const third = Date.parse(c.validTo) - (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 3;
    const { start, end } = first.ari_window!;
    expect(Math.abs(Date.parse(start) - (third - DAY * 1000))).toBeLessThan(120_000);
    expect(Math.abs(Date.parse(end) - (third + DAY * 1000))).toBeLessThan(120_000);
    expect(first.renew_at! >= start && first.renew_at! <= end).toBe(true);
    const before = await detail("ari");
    expect(before.ari).toMatchObject({ cert_id: ariCertId(c.raw), window: first.ari_window, error: null });

    await daemon.stop();
    daemon = startDaemon(config, { env: world.env });
    const after = await waitFor(async () => {
      const r = await row("ari").catch(() => undefined);
      return r?.renew_at ? r : undefined;
    }, 30_000, 100, "the restarted daemon's look");
    expect(after.renew_at).toBe(first.renew_at);
    expect(after.renew_reason).toBe("ari");
    // Kept, not asked again: the same poll, its next one 6 h after it (pebble's Retry-After).
    const kept = await detail("ari");
    expect(kept.ari!.polled_at).toBe(before.ari!.polled_at);
    expect(Date.parse(kept.ari!.next_poll_at) - Date.parse(kept.ari!.polled_at)).toBe(21_600_000);
  });

  test("a window set in the past: a non-forced rota renew starts, and its order replaces the certificate", async () => {
    const c = leaf("ari");
    const certId = ariCertId(c.raw)!;
    const now = Date.now();
    await setWindow("ari", new Date(now - 2 * 3600_000), new Date(now - 3600_000));
    const r = await runRota(["renew", "ari", "--wait", "--socket", world.socket]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const done = (await audit(world.socket, "ari")).find((x) => x.trigger === "manual")!;
    expect(done.status).toBe("succeeded");
    // The poll the renew asked for moved its moment from ahead (pebble's usual window) to the past.
    expect(done.reason).toMatch(/^ARI window moved earlier \(was \S+\): due: \d+\.\d+ days left, renew at \S+ \(ARI window\)$/);
    if (needsZero(certId)) {
      expect(submitMessage(done)).toBe("order placed with pebble (profile default, replaces refused (serverInternal), ordered without it); N challenge(s) to solve");
    } else {
      expect(submitMessage(done)).toBe(`order placed with pebble (profile default, replaces ${shortCertId(certId)}); N challenge(s) to solve`);
      await waitFor(() => world.pebble.output().includes("is a replacement of"), 5_000, 50, "pebble's replacement log line");
    }
    expect(leaf("ari").serialNumber).not.toBe(c.serialNumber);
  });

  test("a window a few seconds ahead: rota renew asks again and answers not due, then a scheduled renewal comes inside it", async () => {
    const serial = leaf("ari").serialNumber;
    // A manual poll comes at most every 10 s per cert: the window is set afresh, 5–6 s ahead,
    // until a rota renew has asked the CA and answers with it.
    let window = { start: new Date(0), end: new Date(0) };
    const said = await waitFor(async () => {
      const base = Math.ceil(Date.now() / 1000) * 1000;
      window = { start: new Date(base + 5_000), end: new Date(base + 6_000) };
      await setWindow("ari", window.start, window.end);
      const r = await runRota(["renew", "ari", "--socket", world.socket]);
      return r.stdout.includes(window.start.toISOString()) ? r : undefined;
    }, 20_000, 500, "rota renew to answer with the new window");
    expect(said.code).toBe(0);
    expect(said.stdout).toMatch(new RegExp(`^ari is not due \\(renew at \\S+, ARI window ${window.start.toISOString()} – ${window.end.toISOString()}\\); use --force to renew anyway\n$`));
    const scheduled = await waitForRenewal(world.socket, "ari", (x) => x.trigger === "scheduled" && x.status === "succeeded", 30_000);
    expect(Date.parse(scheduled.started_at)).toBeGreaterThanOrEqual(window.start.getTime());
    expect(Date.parse(scheduled.started_at)).toBeLessThanOrEqual(window.end.getTime() + 2_000);
    expect(scheduled.reason).toMatch(/\(ARI window\)$/);
    expect(leaf("ari").serialNumber).not.toBe(serial);
  });
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
