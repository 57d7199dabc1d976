/** @module decide(): the renewal decision as a pure function of what is served, what is stored and now. */
import { describe, expect, test } from "bun:test";
import { daysLeft, decide as decideWith, jitterUnit, reasonAt, renewalMoment, repairOf, staleTargets, type CertSummary, type DueInput, type TargetState } from "./due.ts";
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
/** decide() for cert "www" without ARI advice. */
const decide = (i: Omit<DueInput, "certId" | "ari"> & Partial<Pick<DueInput, "ari">>) => decideWith({ certId: "www", ari: null, ...i });
/** When the lifetime rule renews `c` for cert "www": ⅓ of 90 days before expiry, less its jitter. */
const lifetimeMoment = (c: CertSummary) => renewalMoment(c, { threshold: null, ari: null, jitter: jitterUnit("www", c.serial) });
const lifetimeAt = (c: CertSummary) => lifetimeMoment(c).at;

describe("decide", () => {
  test("nothing installed and nothing stored: renew", () => {
    expect(decide({ want, now, threshold, targets: [{ target: "files", installed: null }], latest: null })).toEqual({
      action: "renew",
      reason: "nothing installed",
      why: "missing",
      moment: null,
      notAfter: null,
    });
  });

  test("past its moment: renew, naming the days left, the moment and the rule that set it", () => {
    const c = cert("01", 10);
    expect(decide({ want, now, threshold: null, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "renew",
      reason: `due: 10.00 days left, renew at ${lifetimeAt(c).toISOString()} (lifetime rule)`,
      why: "lifetime",
      moment: lifetimeMoment(c),
      notAfter: c.notAfter,
    });
  });

  test("a threshold that comes before the lifetime rule: renew, naming it and its source", () => {
    const c = cert("01", 40);
    const at = new Date(c.notAfter.getTime() - 45 * DAY);
    expect(decide({ want, now, threshold: { days: 45, source: "cert" }, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "renew",
      reason: `due: 40.00 days left, renew at ${at.toISOString()} (threshold 45 days (cert))`,
      why: "threshold",
      moment: { at, reason: "threshold" },
      notAfter: c.notAfter,
    });
  });

  test("expired: renew, saying so", () => {
    const c = cert("01", -1.5);
    expect(decide({ want, now, threshold: null, targets: [{ target: "files", installed: c }], latest: c })).toMatchObject({
      action: "renew",
      reason: `expired: 1.50 days ago, renew at ${lifetimeAt(c).toISOString()} (lifetime rule)`,
      notAfter: c.notAfter,
    });
  });

  test("a short-lived cert's time left shows in two significant digits, not as 0.00 days", () => {
    const minutes = cert("01", 2 / 1440);
    expect(decide({ want, now, threshold: null, targets: [{ target: "files", installed: minutes }], latest: minutes }).reason).toStartWith("due: 0.0014 days left, ");
    const gone = cert("01", -30 / 1440);
    expect(decide({ want, now, threshold: null, targets: [{ target: "files", installed: gone }], latest: gone }).reason).toStartWith("expired: 0.021 days ago, ");
  });

  test("a key type changed in the config: renew now, however long the certificate has left", () => {
    const c = cert("01", 80);
    expect(decide({ want: { ...want, keyType: "rsa-2048" }, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "renew",
      reason: "key type changed: the certificate has ecdsa-p256, the config asks for rsa-2048",
      why: "changed",
      moment: lifetimeMoment(c),
      notAfter: c.notAfter,
    });
  });

  test("names changed in the config: renew now, naming what is added and dropped", () => {
    const c = { ...cert("01", 80), names: ["www.example.com", "old.example.com"] };
    expect(decide({ want: { ...want, domains: ["www.example.com", "new.example.com"] }, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "renew",
      reason: "names changed: adds new.example.com; drops old.example.com",
      why: "changed",
      moment: lifetimeMoment(c),
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

  test("a certificate shorter-lived than the threshold: renew at once, by the threshold", () => {
    const c = { ...cert("01", 6), notBefore: inDays(-1) };
    expect(decide({ want, now, threshold, targets: [{ target: "files", installed: c }], latest: c })).toMatchObject({
      action: "renew",
      why: "threshold",
      reason: `due: 6.00 days left, renew at ${inDays(-24).toISOString()} (threshold 30 days (daemon))`,
    });
  });

  test("the same certificate without a threshold: renews at half its life", () => {
    const c = { ...cert("01", 6), notBefore: inDays(-1) };
    expect(decide({ want, now, threshold: null, targets: [{ target: "files", installed: c }], latest: c })).toMatchObject({ action: "none", why: "lifetime" });
  });

  test("healthy: nothing to do", () => {
    const c = cert("01", 60);
    expect(decide({ want, now, threshold: { days: 14, source: "cert" }, targets: [{ target: "files", installed: c }], latest: c })).toEqual({
      action: "none",
      reason: `ok: 60.00 days left, renew at ${lifetimeAt(c).toISOString()} (lifetime rule)`,
      why: "lifetime",
      moment: lifetimeMoment(c),
      notAfter: c.notAfter,
      newest: c.notAfter,
    });
  });

  test("nothing to do, the store's and the served certificate expiring together: one Date for both, the served one's", () => {
    const stored = cert("01", 60);
    const served = cert("01", 60);
    const d = decide({ want, now, threshold: null, targets: [{ target: "files", installed: served }], latest: stored });
    expect(d.action).toBe("none");
    if (d.action !== "none") return;
    expect(d.notAfter).toBe(served.notAfter);
    expect(d.newest).toBe(served.notAfter);
  });

  test("nothing to do: the reason's days left as of when it is read; any other reason as it was", () => {
    const c = cert("01", 60);
    const ok = decide({ want, now, threshold: null, targets: [{ target: "files", installed: c }], latest: c });
    expect(reasonAt(ok, inDays(1.5))).toBe(`ok: 58.50 days left, renew at ${lifetimeAt(c).toISOString()} (lifetime rule)`);
    expect(reasonAt(ok, now)).toBe(ok.reason);
    const due = decide({ want, now, threshold: null, targets: [{ target: "files", installed: cert("01", 10) }], latest: cert("01", 10) });
    expect(reasonAt(due, inDays(1))).toBe(due.reason);
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
    ).toEqual({ action: "install", reason: "nginx does not serve the newest certificate (serial 02)", why: "stale", moment: lifetimeMoment(old), targets: ["nginx"], notAfter: newest.notAfter });
  });

  test("a target serving another certificate with the same expiry as the store's newest: install", () => {
    const stored = cert("02", 80);
    expect(decide({ want, now, threshold, targets: [{ target: "files", installed: cert("01", 80) }], latest: stored })).toEqual({
      action: "install",
      reason: "files does not serve the newest certificate (serial 02)",
      why: "stale",
      moment: [lifetimeMoment(stored), lifetimeMoment(cert("01", 80))].sort((a, b) => a.at.getTime() - b.at.getTime())[0]!,
      targets: ["files"],
      notAfter: stored.notAfter,
    });
  });

  test("a verify_served endpoint serving an older certificate than the target's files: install there, naming the endpoint and what it serves", () => {
    const stored = cert("02", 80);
    expect(decide({ want, now, threshold, targets: [{ target: "nginx", installed: cert("01", 50), servedAt: "127.0.0.1:443" }], latest: stored })).toEqual({
      action: "install",
      reason: "nginx (127.0.0.1:443 serves 01) does not serve the newest certificate (serial 02)",
      why: "drift",
      moment: lifetimeMoment(cert("01", 50)),
      targets: ["nginx"],
      notAfter: stored.notAfter,
    });
  });

  test("a target serving a certificate issued after the store's newest (put there by hand) is left alone", () => {
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
    ).toEqual({ action: "install", reason: "files, nginx do not serve the newest certificate (serial 02)", why: "not_served", moment: lifetimeMoment(stored), targets: ["files", "nginx"], notAfter: stored.notAfter });
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
    ).toEqual({ action: "renew", reason: "nothing installed on nginx and nothing stored", why: "missing", moment: lifetimeMoment(served), notAfter: served.notAfter });
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
    ).toEqual({
      action: "renew",
      reason: `due: a target serves a certificate with 5.00 days left, renew at ${lifetimeAt(stored).toISOString()} (lifetime rule)`,
      why: "lifetime",
      moment: lifetimeMoment(stored),
      notAfter: stored.notAfter,
    });
  });

  describe("newest means issued last, not expiring last (a lifetime cut: validity_days 90 → 30)", () => {
    /** A certificate issued `issuedDaysAgo` ago that lives `lifetime` days. */
    const issuedFor = (serial: string, issuedDaysAgo: number, lifetime: number, names = ["www.example.com"]): CertSummary => ({
      serial,
      notBefore: inDays(-issuedDaysAgo),
      notAfter: inDays(lifetime - issuedDaysAgo),
      keyType: "ecdsa-p256",
      names,
    });
    const long = issuedFor("0758", 10, 90); // 80 days left
    const short = issuedFor("4a31", 0, 30); // the forced renewal after the cut: 30 days left

    test("the files serve the new shorter certificate the store holds as newest: nothing to do, no re-install of the older one", () => {
      expect(decide({ want, now, threshold: null, targets: [{ target: "files", installed: short }], latest: short })).toMatchObject({ action: "none", notAfter: short.notAfter, newest: short.notAfter });
    });

    test("a target still serving the older, longer certificate: install the newest there", () => {
      expect(
        decide({
          want,
          now,
          threshold: null,
          targets: [
            { target: "files", installed: short },
            { target: "nas", installed: long },
          ],
          latest: short,
        }),
      ).toMatchObject({ action: "install", reason: "nas does not serve the newest certificate (serial 4a31)", why: "stale", targets: ["nas"], notAfter: short.notAfter });
      expect(staleTargets(short, [{ target: "nas", installed: long }]).map((t) => t.target)).toEqual(["nas"]);
    });

    test("a name added with the cut: once the new certificate is stored, the older one a target serves does not make the names look changed", () => {
      const wantY = { ...want, domains: ["www.example.com", "y.example.com"] };
      const withY = issuedFor("4a31", 0, 30, ["www.example.com", "y.example.com"]);
      expect(decide({ want: wantY, now, threshold: null, targets: [{ target: "files", installed: long }], latest: withY })).toMatchObject({
        action: "install",
        why: "stale",
        targets: ["files"],
      });
      expect(decide({ want: wantY, now, threshold: null, targets: [{ target: "files", installed: withY }], latest: withY })).toMatchObject({ action: "none" });
    });

    test("a target serving one issued after the store's newest (a renewal that ended after the store was read), though it expires sooner: it is the newest, left alone", () => {
      const wantY = { ...want, domains: ["www.example.com", "y.example.com"] };
      const justIssued = issuedFor("4a31", 0, 30, ["www.example.com", "y.example.com"]);
      expect(decide({ want: wantY, now, threshold: null, targets: [{ target: "files", installed: justIssued }], latest: long })).toMatchObject({
        action: "none",
        notAfter: justIssued.notAfter,
        newest: justIssued.notAfter,
      });
    });

    test("the same notBefore (a CA that rounds it to the day): the store's certificate wins", () => {
      const sameDay = { ...long, serial: "0999" };
      expect(decide({ want, now, threshold: null, targets: [{ target: "files", installed: sameDay }], latest: long })).toMatchObject({ action: "install", why: "stale", targets: ["files"] });
    });
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
        why: "damaged",
        moment: lifetimeMoment(c),
        targets: ["files"],
        notAfter: c.notAfter,
      });
    });

    test("beside a stale target: both put back, the damage named first", () => {
      expect(decide({ want, now, threshold, targets: [{ target: "nas", installed: null }, damagedFiles], latest: c })).toEqual({
        action: "install",
        reason: "files: damaged: privkey.pem is missing; nas does not serve the newest certificate (serial 01)",
        why: "damaged",
        moment: lifetimeMoment(c),
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
        why: "damaged",
        moment: null,
        notAfter: null,
      });
      expect(decide({ want, now, threshold, targets: [damagedFiles, { target: "nas", installed: c }], latest: null })).toEqual({
        action: "renew",
        reason: "files: damaged: privkey.pem is missing; nothing stored to put back",
        why: "damaged",
        moment: lifetimeMoment(c),
        notAfter: c.notAfter,
      });
    });

    test("a stored certificate that is due: renew (the renewal installs everywhere, damage included)", () => {
      const due = cert("01", 10);
      expect(decide({ want, now, threshold, targets: [damagedFiles], latest: due })).toMatchObject({
        action: "renew",
        reason: `due: 10.00 days left, renew at ${lifetimeAt(due).toISOString()} (lifetime rule)`,
        notAfter: due.notAfter,
      });
    });
  });
});

describe("staleTargets", () => {
  const stored = cert("02", 80);

  test("nothing installed, an older certificate, or another with the same expiry: stale; the stored one, or a later one put there by hand: not", () => {
    const targets: TargetState[] = [
      { target: "empty", installed: null },
      { target: "older", installed: cert("01", 50) },
      { target: "twin", installed: cert("03", 80) },
      { target: "current", installed: stored },
      { target: "by-hand", installed: cert("09", 85) },
    ];
    expect(staleTargets(stored, targets).map((t) => t.target)).toEqual(["empty", "older", "twin"]);
  });

  test("a damaged set is not stale (repairOf says it apart); a verify_served endpoint's older certificate is", () => {
    const drift = { target: "nginx", installed: cert("01", 50), servedAt: "127.0.0.1:443" };
    const stale = staleTargets(stored, [{ target: "files", installed: null, damaged: "privkey.pem is missing" }, drift]);
    expect(stale).toEqual([drift]);
    expect(stale[0]).toBe(drift);
  });
});

describe("repairOf", () => {
  test("every target serves the stored certificate: nothing to repair", () => {
    const c = cert("01", 60);
    expect(repairOf(c, [{ target: "files", installed: c }])).toBeNull();
    expect(repairOf(c, [])).toBeNull();
  });

  test("the reasons and targets decide() gives its install decision, whether or not the stored certificate is due", () => {
    const due = cert("02", 5);
    expect(repairOf(due, [{ target: "files", installed: cert("01", 1) }, { target: "nas", installed: null, damaged: "cert.pem is empty" }])).toEqual({
      targets: ["files", "nas"],
      reason: "nas: damaged: cert.pem is empty; files does not serve the newest certificate (serial 02)",
      why: "damaged",
    });
    expect(repairOf(due, [{ target: "nginx", installed: cert("01", 1), servedAt: "127.0.0.1:443" }])).toEqual({
      targets: ["nginx"],
      reason: "nginx (127.0.0.1:443 serves 01) does not serve the newest certificate (serial 02)",
      why: "drift",
    });
    expect(repairOf(due, [{ target: "dsm", installed: null }])).toMatchObject({ why: "not_served", targets: ["dsm"] });
  });
});

describe("renewalMoment", () => {
  const HOUR = 3_600_000;
  const issued = (lifetimeMs: number) => ({ notBefore: now, notAfter: new Date(now.getTime() + lifetimeMs) });
  const ALMOST_ONE = 1 - 2 ** -48;

  // [lifetime, where jitter 0 puts the moment before notAfter, the most jitter moves it earlier]
  const table: [string, number, number, number][] = [
    ["90-day", 90 * DAY, 30 * DAY, 12 * HOUR],
    ["45-day", 45 * DAY, 15 * DAY, 12 * HOUR],
    ["6-day", 6 * DAY, 3 * DAY, 7.2 * HOUR],
    ["1-hour", HOUR, HOUR / 2, 3 * 60_000],
  ];
  for (const [name, lifetime, before, jitterMax] of table) {
    test(`a ${name} certificate: the lifetime rule, moved earlier by its jitter up to ${jitterMax / 60_000} min`, () => {
      const c = issued(lifetime);
      expect(renewalMoment(c, { threshold: null, ari: null, jitter: 0 })).toEqual({ at: new Date(c.notAfter.getTime() - before), reason: "lifetime" });
      const late = renewalMoment(c, { threshold: null, ari: null, jitter: ALMOST_ONE }).at.getTime();
      expect(c.notAfter.getTime() - before - late).toBeCloseTo(jitterMax, -1);
      expect(c.notAfter.getTime() - before - late).toBeLessThanOrEqual(Math.min(jitterMax, 12 * HOUR));
    });
  }

  test("thresholds only bring the moment forward, and the earliest wins", () => {
    const ninety = issued(90 * DAY);
    // 30 days on a 90-day certificate is where the lifetime rule renews anyway.
    expect(renewalMoment(ninety, { threshold: { days: 30, source: "daemon" }, ari: null, jitter: 0 })).toEqual({ at: new Date(ninety.notAfter.getTime() - 30 * DAY), reason: "lifetime" });
    expect(renewalMoment(ninety, { threshold: { days: 30, source: "daemon" }, ari: null, jitter: 0.5 }).reason).toBe("lifetime");
    expect(renewalMoment(ninety, { threshold: { days: 45, source: "cert" }, ari: null, jitter: 0.5 })).toEqual({ at: new Date(ninety.notAfter.getTime() - 45 * DAY), reason: "threshold" });
    expect(renewalMoment(ninety, { threshold: { days: 10, source: "cert" }, ari: null, jitter: 0 }).reason).toBe("lifetime");
    // Longer than the certificate lives: due from its first moment.
    const six = issued(6 * DAY);
    expect(renewalMoment(six, { threshold: { days: 30, source: "daemon" }, ari: null, jitter: 0 })).toEqual({ at: new Date(six.notAfter.getTime() - 30 * DAY), reason: "threshold" });
    const hour = issued(HOUR);
    expect(renewalMoment(hour, { threshold: { days: 1, source: "cert" }, ari: null, jitter: 0 }).at.getTime()).toBeLessThan(now.getTime());
  });

  describe("an ARI window", () => {
    const c = issued(90 * DAY);
    const window = (startDays: number, endDays: number) => ({ start: new Date(now.getTime() + startDays * DAY), end: new Date(now.getTime() + endDays * DAY) });

    test("in the future: jitter of the way into it", () => {
      expect(renewalMoment(c, { threshold: null, ari: window(59, 61), jitter: 0 })).toEqual({ at: window(59, 61).start, reason: "ari" });
      expect(renewalMoment(c, { threshold: null, ari: window(59, 61), jitter: 0.25 })).toEqual({ at: new Date(now.getTime() + 59.5 * DAY), reason: "ari" });
    });

    test("later than the lifetime rule: the CA's word wins", () => {
      expect(renewalMoment(c, { threshold: null, ari: window(70, 72), jitter: 0 }).reason).toBe("ari");
    });

    test("moved earlier or into the past (a mass revocation): pulled in, however far", () => {
      const past = window(-2, -1);
      expect(renewalMoment(c, { threshold: { days: 30, source: "daemon" }, ari: past, jitter: 0.5 })).toEqual({ at: new Date(now.getTime() - 1.5 * DAY), reason: "ari" });
    });

    test("with a threshold that comes first: the threshold", () => {
      expect(renewalMoment(c, { threshold: { days: 40, source: "cert" }, ari: window(59, 61), jitter: 0 })).toEqual({ at: new Date(c.notAfter.getTime() - 40 * DAY), reason: "threshold" });
    });

    test("its end clamped to notAfter; one ending before it starts is ignored", () => {
      expect(renewalMoment(c, { threshold: null, ari: window(89, 200), jitter: 0.5 })).toEqual({ at: new Date(now.getTime() + 89.5 * DAY), reason: "ari" });
      expect(renewalMoment(c, { threshold: null, ari: window(61, 59), jitter: 0 })).toEqual({ at: new Date(c.notAfter.getTime() - 30 * DAY), reason: "lifetime" });
      expect(renewalMoment(c, { threshold: null, ari: window(95, 100), jitter: 0 }).reason).toBe("lifetime");
    });
  });
});

describe("decide with ARI advice", () => {
  const c = cert("01", 50);
  const ari = (startDays: number, endDays: number, serial = "01") => ({ serial, window: { start: inDays(startDays), end: inDays(endDays) } });

  test("a window in the past makes the newest certificate due, saying so", () => {
    const d = decideWith({ certId: "www", want, now, threshold: null, ari: ari(-1, -0.5), targets: [{ target: "files", installed: c }], latest: c });
    expect(d).toMatchObject({ action: "renew", why: "ari" });
    expect(d.reason).toMatch(/^due: 50\.00 days left, renew at 2029-12-31T\d\d:\d\d:\d\d\.\d{3}Z \(ARI window\)$/);
  });

  test("a window for another serial is not this certificate's", () => {
    expect(decideWith({ certId: "www", want, now, threshold: null, ari: ari(-1, -0.5, "02"), targets: [{ target: "files", installed: c }], latest: c })).toMatchObject({ action: "none", why: "lifetime" });
  });
});

test("jitterUnit: deterministic, in [0, 1), and even: 10,000 ids land 8–12 % per decile", () => {
  expect(jitterUnit("www", "0a1b")).toBe(jitterUnit("www", "0a1b"));
  expect(jitterUnit("www", "0a1b")).not.toBe(jitterUnit("www", "0a1c"));
  const deciles = new Array<number>(10).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const u = jitterUnit(`cert-${i}`, "00f1");
    expect(u).toBeGreaterThanOrEqual(0);
    expect(u).toBeLessThan(1);
    deciles[Math.floor(u * 10)]!++;
  }
  for (const n of deciles) {
    expect(n).toBeGreaterThanOrEqual(800);
    expect(n).toBeLessThanOrEqual(1200);
  }
});

test("jitterUnit: kept per cert id, a new serial computed afresh, the same unit as before", () => {
  const first = jitterUnit("kept", "01");
  const other = jitterUnit("kept", "02");
  expect(other).not.toBe(first);
  expect(jitterUnit("kept", "01")).toBe(first);
  expect(jitterUnit("kept", "02")).toBe(other);
});
