/** @module decide(): the renewal decision as a pure function of what is served, what is stored and now. */
import { describe, expect, test } from "bun:test";
import { daysLeft, decide, type CertSummary } from "./due.ts";
import type { Threshold } from "./threshold.ts";

const DAY = 86_400_000;
const now = new Date("2030-01-01T00:00:00Z");
const inDays = (d: number) => new Date(now.getTime() + d * DAY);
/** A 90-day certificate with `days` left. */
const cert = (serial: string, days: number): CertSummary => ({
  serial,
  notBefore: inDays(days - 90),
  notAfter: inDays(days),
  keyType: "ecdsa-p256",
  names: ["www.example.com"],
});
const want = { keyType: "ecdsa-p256" as const, domains: ["www.example.com"] };
const threshold: Threshold = { days: 30, source: "daemon" };

describe("decide", () => {
  test("nothing installed and nothing stored: renew", () => {
    expect(decide({ want, now, threshold, targets: [{ target: "files", installed: null }], latest: null })).toEqual({
      action: "renew",
      reason: "nothing installed",
      notAfter: null,
    });
  });

  test("within the threshold: renew, naming the days left and where the threshold came from", () => {
    const c = cert("01", 10);
    expect(decide({ want, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "renew",
      reason: "due: 10.00 days left, threshold 30 (daemon)",
      notAfter: c.notAfter,
    });
  });

  test("expired: renew, saying so", () => {
    const c = cert("01", -1.5);
    expect(decide({ want, now, threshold: { days: 30, source: "default" }, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "renew",
      reason: "expired: -1.50 days left, threshold 30 (default)",
      notAfter: c.notAfter,
    });
  });

  test("a key type changed in the config: renew now, however long the certificate has left", () => {
    const c = cert("01", 80);
    expect(decide({ want: { ...want, keyType: "rsa-2048" }, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "renew",
      reason: "key type changed: the certificate has ecdsa-p256, the config asks for rsa-2048",
      notAfter: c.notAfter,
    });
  });

  test("names changed in the config: renew now, naming what is added and dropped", () => {
    const c = { ...cert("01", 80), names: ["www.example.com", "old.example.com"] };
    expect(decide({ want: { ...want, domains: ["www.example.com", "new.example.com"] }, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "renew",
      reason: "names changed: adds new.example.com; drops old.example.com",
      notAfter: c.notAfter,
    });
  });

  test("names the CA adds on its own (Sectigo's www. counterpart) are no change; a missing configured name still is", () => {
    const c = { ...cert("01", 80), names: ["shop.example.com", "www.shop.example.com"] };
    const sectigo = { ...want, domains: ["shop.example.com"], implied: ["www.shop.example.com"] };
    expect(decide({ want: sectigo, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toMatchObject({ action: "none" });
    expect(decide({ want: { ...sectigo, implied: [] }, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toMatchObject({
      action: "renew",
      reason: "names changed: drops www.shop.example.com",
    });
    const bare = { ...c, names: ["www.shop.example.com"] };
    expect(decide({ want: sectigo, now, threshold, targets: [{ target: "files", installed: bare }], latest: bare })).toMatchObject({
      action: "renew",
      reason: "names changed: adds shop.example.com",
    });
  });

  test("a certificate shorter-lived than the threshold: renew, and say it will at every check", () => {
    const c = { ...cert("01", 6), notBefore: inDays(-1) };
    expect(decide({ want, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toMatchObject({
      action: "renew",
      reason: "due: 6.00 days left, threshold 30 (daemon); the certificate lives only 7.00 days, so it renews at every check: lower renew_threshold_days",
    });
  });

  test("healthy: nothing to do", () => {
    const c = cert("01", 60);
    expect(decide({ want, now, threshold: { days: 14, source: "cert" }, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "none",
      reason: "ok: 60.00 days left, threshold 14 (cert)",
      notAfter: c.notAfter,
    });
  });

  test("a second target serving an older certificate than the store: install on that target only", () => {
    const newest = cert("02", 80);
    const old = cert("01", 40);
    expect(
      decide({
        want,
        now,
        threshold,
        targets: [
          { target: "files", installed: newest },
          { target: "nginx", installed: old },
        ],
        latest: newest,
      }),
    ).toEqual({ action: "install", reason: "nginx does not serve the newest certificate (serial 02)", targets: ["nginx"], notAfter: newest.notAfter });
  });

  test("a target serving another certificate with the same expiry as the store's newest: install", () => {
    const stored = cert("02", 80);
    expect(decide({ want, now, threshold, targets: [{ target: "files", installed: cert("01", 80) }], latest: stored })).toEqual({
      action: "install",
      reason: "files does not serve the newest certificate (serial 02)",
      targets: ["files"],
      notAfter: stored.notAfter,
    });
  });

  test("a verify_served endpoint serving an older certificate than the target's files: install there, naming the endpoint and what it serves", () => {
    const stored = cert("02", 80);
    expect(decide({ want, now, threshold, targets: [{ target: "nginx", installed: cert("01", 50), servedAt: "127.0.0.1:443" }], latest: stored })).toEqual({
      action: "install",
      reason: "nginx (127.0.0.1:443 serves 01) does not serve the newest certificate (serial 02)",
      targets: ["nginx"],
      notAfter: stored.notAfter,
    });
  });

  test("a target serving a certificate that outlives the store's newest is left alone", () => {
    const stored = cert("02", 80);
    expect(decide({ want, now, threshold, targets: [{ target: "files", installed: cert("09", 85) }], latest: stored })).toMatchObject({ action: "none" });
  });

  test("a target with nothing installed while the store holds a valid certificate: install", () => {
    const stored = cert("02", 80);
    expect(
      decide({
        want,
        now,
        threshold,
        targets: [
          { target: "files", installed: null },
          { target: "nginx", installed: null },
        ],
        latest: stored,
      }),
    ).toEqual({ action: "install", reason: "files, nginx do not serve the newest certificate (serial 02)", targets: ["files", "nginx"], notAfter: stored.notAfter });
  });

  test("a target with nothing installed and nothing stored: renew rather than copy another target's certificate", () => {
    const served = cert("01", 80);
    expect(
      decide({
        want,
        now,
        threshold,
        targets: [
          { target: "files", installed: served },
          { target: "nginx", installed: null },
        ],
        latest: null,
      }),
    ).toEqual({ action: "renew", reason: "nothing installed on nginx and nothing stored", notAfter: served.notAfter });
  });

  test("one target newer than the store, another serving the store's certificate near expiry: renew", () => {
    const stored = cert("01", 5);
    expect(
      decide({
        want,
        now,
        threshold,
        targets: [
          { target: "files", installed: cert("09", 80) },
          { target: "nginx", installed: stored },
        ],
        latest: stored,
      }),
    ).toEqual({ action: "renew", reason: "due: a target serves a certificate with 5.00 days left, threshold 30 (daemon)", notAfter: stored.notAfter });
  });

  test("daysLeft is fractional", () => {
    expect(daysLeft(new Date(now.getTime() + 3_600_000), now)).toBeCloseTo(1 / 24, 10);
  });

  describe("a damaged set", () => {
    const c = cert("01", 60);
    const damagedFiles = { target: "files", installed: null, damaged: "privkey.pem is missing" };

    test("with the certificate stored: install-only on that target, the damage as the reason", () => {
      expect(decide({ want, now, threshold, targets: [damagedFiles, { target: "nas", installed: c }], latest: c })).toEqual({
        action: "install",
        reason: "files: damaged: privkey.pem is missing",
        targets: ["files"],
        notAfter: c.notAfter,
      });
    });

    test("beside a stale target: both put back, the damage named first", () => {
      expect(decide({ want, now, threshold, targets: [{ target: "nas", installed: null }, damagedFiles], latest: c })).toEqual({
        action: "install",
        reason: "files: damaged: privkey.pem is missing; nas does not serve the newest certificate (serial 01)",
        targets: ["nas", "files"],
        notAfter: c.notAfter,
      });
    });

    test("two damaged targets: each with its reason", () => {
      const chain = { target: "nas", installed: null, damaged: "chain.pem does not issue the certificate in cert.pem" };
      expect(decide({ want, now, threshold, targets: [damagedFiles, chain], latest: c })).toMatchObject({
        action: "install",
        reason: "files: damaged: privkey.pem is missing; nas: damaged: chain.pem does not issue the certificate in cert.pem",
        targets: ["files", "nas"],
      });
    });

    test("nothing stored: renew, since there is nothing to put back", () => {
      expect(decide({ want, now, threshold, targets: [damagedFiles], latest: null })).toEqual({
        action: "renew",
        reason: "files: damaged: privkey.pem is missing; nothing stored to put back",
        notAfter: null,
      });
      expect(decide({ want, now, threshold, targets: [damagedFiles, { target: "nas", installed: c }], latest: null })).toEqual({
        action: "renew",
        reason: "files: damaged: privkey.pem is missing; nothing stored to put back",
        notAfter: c.notAfter,
      });
    });

    test("a stored certificate that is due: renew (the renewal installs everywhere, damage included)", () => {
      const due = cert("01", 10);
      expect(decide({ want, now, threshold, targets: [damagedFiles], latest: due })).toEqual({
        action: "renew",
        reason: "due: 10.00 days left, threshold 30 (daemon)",
        notAfter: due.notAfter,
      });
    });
  });
});
