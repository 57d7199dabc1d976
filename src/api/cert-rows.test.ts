/**
 * @module The list's cached rows: after every kind of change (a new look, a renewal, a
 * failure state, a reload, time passing) a row is exactly what certJson gives at that
 * moment, and an unchanged cert is not serialized again.
 */
import { describe, expect, test } from "bun:test";
import type { NodeInstallFailure } from "../cluster/types.ts";
import type { Decision } from "../scheduler/due.ts";
import type { CertLook, TargetLook } from "../scheduler/scheduler.ts";
import type { CertState, RenewalHead } from "../store/types.ts";
import { CertRows } from "./cert-rows.ts";
import { certJson, daysLeftUntil, momentsExpiry, type CertViewInput } from "./cert-view.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2030-01-01T00:00:00Z");

/** A small seeded generator (mulberry32): the same sequence on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function base(): CertViewInput {
  const notAfter = new Date(T0 + 60 * DAY);
  return {
    id: "www",
    domains: ["www.example.com"],
    now: new Date(T0),
    look: {
      decision: { action: "none", why: "lifetime", moment: { at: new Date(T0 + 40 * DAY), reason: "lifetime" }, reason: "fine", notAfter, newest: notAfter },
      threshold: null,
      ari: null,
      error: null,
      targets: [{ target: "files", installed: { serial: "aa", notBefore: new Date(T0 - 30 * DAY), notAfter, keyType: "ecdsa-p256", names: ["www.example.com"] } }],
      dueSince: null,
      latestSerial: "aa",
    },
    busy: false,
    state: null,
    last: undefined,
    nodeFailure: null,
    nextTick: new Date(T0 + 3_600_000),
    install: ["files"],
    typeOf: () => "filesystem",
  };
}

/** Copies of everything, as a new tick or store read hands them: equal values, new objects. */
function fresh(i: CertViewInput): CertViewInput {
  const d = (x: Date | null | undefined) => (x ? new Date(x.getTime()) : x);
  const look = i.look && {
    ...i.look,
    decision: i.look.decision && { ...i.look.decision, notAfter: d(i.look.decision.notAfter)!, moment: i.look.decision.moment && { ...i.look.decision.moment, at: d(i.look.decision.moment.at)! } },
    targets: i.look.targets.map((t) => ({ ...t, installed: t.installed && { ...t.installed, notAfter: d(t.installed.notAfter)! } })),
    dueSince: d(i.look.dueSince) ?? null,
  };
  return { ...i, domains: [...i.domains], install: [...i.install], look, state: i.state && { ...i.state, retryAt: d(i.state.retryAt) ?? null }, last: i.last && { ...i.last } };
}

type Change = (i: CertViewInput, r: () => number) => CertViewInput;

const at = (r: () => number) => new Date(T0 + Math.floor((r() - 0.3) * 90 * DAY));
const pick = <T,>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const withLook = (i: CertViewInput, over: Partial<CertLook>): CertViewInput => ({ ...i, look: { ...(i.look ?? base().look!), ...over } });
const withDecision = (i: CertViewInput, over: Partial<Decision>): CertViewInput => withLook(i, { decision: { ...(i.look?.decision ?? base().look!.decision!), ...over } as Decision });
const withTarget = (i: CertViewInput, over: Partial<TargetLook>): CertViewInput => withLook(i, { targets: [{ ...(i.look?.targets[0] ?? base().look!.targets[0]!), ...over }] });
const state = (r: () => number): CertState => ({ certId: "www", consecutiveFailures: pick(r, [0, 1, 3]), retryAt: pick(r, [null, at(r)]), lastError: "acme: boom", authzFailures: 0, haltedAt: pick(r, [null, null, at(r)]) });
const nodeFailure = (r: () => number): NodeInstallFailure => ({
  serial: pick(r, ["aa", "bb"]),
  failures: pick(r, [1, 2]),
  retryAt: at(r),
  refused: pick(r, [true, false]),
  run: { id: pick(r, ["s1", "s2"]), certId: "www", trigger: "sync", installOnly: true, reason: "files does not serve the newest certificate", status: "failed", startedAt: at(r), finishedAt: at(r), error: pick(r, ["key_mismatch", "EPERM"]), node: "nas-4" },
});
const renewal = (r: () => number): RenewalHead => ({
  id: pick(r, ["r1", "r2"]),
  certId: "www",
  trigger: pick(r, ["scheduled", "manual"] as const),
  installOnly: false,
  reason: null,
  status: pick(r, ["running", "succeeded", "failed", "interrupted"] as const),
  startedAt: at(r),
  finishedAt: pick(r, [null, at(r)]),
  error: pick(r, [null, "acme: boom"]),
  node: null,
});

/** Every field certJson reads, changed one way or another. */
const CHANGES: Record<string, Change> = {
  "time passes a little": (i, r) => ({ ...i, now: new Date(i.now.getTime() + Math.floor(r() * 900_000)) }),
  "time passes a lot": (i, r) => ({ ...i, now: new Date(i.now.getTime() + Math.floor(r() * 20 * DAY)) }),
  "a new tick, nothing changed": (i) => fresh(i),
  busy: (i) => ({ ...i, busy: !i.busy }),
  "next tick": (i, r) => ({ ...i, nextTick: pick(r, [null, at(r)]) }),
  "domains (reload)": (i, r) => ({ ...i, domains: pick(r, [["www.example.com"], ["www.example.com", "bücher.example"], ["xn--bcher-kva.example"]]) }),
  "install targets (reload)": (i, r) => ({ ...i, install: pick(r, [["files"], ["files", "nginx"], ["nginx"]]) }),
  "a target's type (reload)": (i, r) => ({ ...i, typeOf: pick(r, [() => "filesystem", () => "nginx", () => undefined]) }),
  "no look yet": (i) => ({ ...i, look: undefined }),
  "unreadable": (i) => withLook(i, { decision: null, error: "files: cannot read" }),
  "decision action": (i, r) => withDecision(i, { action: pick(r, ["none", "renew", "install"] as const) }),
  "decision why": (i, r) => withDecision(i, { why: pick(r, ["lifetime", "ari", "missing", "stale"] as const) }),
  "decision notAfter": (i, r) => withDecision(i, { notAfter: pick(r, [null, at(r)]) }),
  "renewal moment": (i, r) => withDecision(i, { moment: pick(r, [null, { at: at(r), reason: "lifetime" as const }]) }),
  "look error": (i, r) => withLook(i, { error: pick(r, [null, "files: timeout"]) }),
  "due since": (i, r) => withLook(i, { dueSince: pick(r, [null, at(r)]) }),
  "latest serial": (i, r) => withLook(i, { latestSerial: pick(r, [null, "aa", "bb"]) }),
  "ari window and poll": (i, r) =>
    withLook(i, { ari: pick(r, [null, { certId: "x", window: pick(r, [null, { start: at(r), end: at(r) }]), explanationUrl: null, polledAt: at(r), nextPollAt: at(r), error: null }]) }),
  "target serves another": (i, r) => withTarget(i, { installed: pick(r, [null, { serial: pick(r, ["aa", "bb"]), notBefore: at(r), notAfter: at(r), keyType: "ecdsa-p256", names: ["www.example.com"] }]) }),
  "target error": (i, r) => withTarget(i, { error: pick(r, [undefined, "files: EACCES"]) }),
  "target damaged": (i, r) => withTarget(i, { damaged: pick(r, [undefined, "privkey.pem is missing"]) }),
  "target unverified": (i, r) => withTarget(i, { unverified: pick(r, [undefined, "https://x: refused"]) }),
  "targets added or gone": (i, r) => withLook(i, { targets: pick(r, [[], base().look!.targets, [...base().look!.targets, { target: "nginx", installed: null }]]) }),
  "failure state": (i, r) => ({ ...i, state: pick(r, [null, state(r)]) }),
  "latest renewal": (i, r) => ({ ...i, last: pick(r, [undefined, renewal(r)]) }),
  "this node's install failure": (i, r) => ({ ...withDecision(i, { action: "install" }), nodeFailure: pick(r, [null, nodeFailure(r)]) }),
};

describe("CertRows", () => {
  test.each(Object.keys(CHANGES))("after a change of %s the row is certJson's at that moment", (name) => {
    const r = random(name.length * 7919);
    const rows = new CertRows();
    let input = base();
    for (let n = 0; n < 300; n++) {
      // The named change most of the time, another now and then, so they meet in every combination.
      input = (r() < 0.7 ? CHANGES[name]! : pick(r, Object.values(CHANGES)))(input, r);
      expect(rows.row(input)).toBe(JSON.stringify(certJson(input)));
    }
  });

  test("a cert nothing changed for is serialized once, across new objects and time", () => {
    const rows = new CertRows();
    let input = base();
    rows.row(input);
    for (let n = 0; n < 100; n++) {
      input = { ...fresh(input), now: new Date(input.now.getTime() + 1000) };
      rows.row(input);
    }
    expect(rows.builds).toBe(1);
  });

  test("sweeps and hours passing rebuild no row: next_check and days_left are put in, the text as certJson's", () => {
    const rows = new CertRows();
    const certs = ["a", "b", "c"].map((id, n) => withDecision({ ...base(), id }, { notAfter: new Date(T0 + (60 + n) * DAY + n * 1_234_567) }));
    // One cert's renewal moment comes between two sweeps: next_check is that moment, then the next sweep again once it has passed.
    certs[2] = withDecision(certs[2]!, { moment: { at: new Date(T0 + 50.5 * 3_600_000), reason: "lifetime" } });
    const expected = (inputs: CertViewInput[]) => `[${inputs.map((i) => JSON.stringify(certJson(i))).join(",")}]`;
    let inputs = certs;
    const texts = new Set<string>();
    for (let sweep = 1; sweep <= 100; sweep++) {
      // An hour on at each sweep (the default interval), the next sweep an hour ahead.
      const now = new Date(T0 + sweep * 3_600_000);
      inputs = inputs.map((i) => ({ ...fresh(i), now, nextTick: new Date(now.getTime() + 3_600_000) }));
      const text = rows.list(inputs);
      expect(text).toBe(expected(inputs));
      texts.add(text);
    }
    expect(texts.size).toBe(100);
    // Each row once, and the one whose moment passed (renew_at no longer counts in next_check) once more.
    expect(rows.builds).toBe(4);
    const last = [...texts].at(-1)!;
    expect((JSON.parse(last) as { next_check: string }[]).map((r) => r.next_check)).toEqual(Array(3).fill(new Date(T0 + 101 * 3_600_000).toISOString()));
    // The same moment asked again: the array's text itself is reused.
    expect(rows.list(inputs.map(fresh))).toBe(last);
  });

  test("days_left: its value changes at the hundredth of a day, not before, and the row stays", () => {
    const input = base();
    const rows = new CertRows();
    const expires = daysLeftUntil(input.look!.decision!.notAfter!, input.now);
    const days = (ms: number) => (JSON.parse(rows.row({ ...input, now: new Date(ms) })) as { days_left: number }).days_left;
    expect(days(input.now.getTime())).toBe(60);
    expect(days(expires)).toBe(60);
    expect(days(expires + 2)).toBe(59.99);
    expect(rows.builds).toBe(1);
  });

  test("a cooldown's end, a renewal moment, an ARI poll and a certificate's expiry each end a row's life once reached", () => {
    const input = { ...base(), state: { certId: "www", consecutiveFailures: 1, retryAt: new Date(T0 + 1000), lastError: null, authzFailures: 0, haltedAt: null } };
    const far = withDecision(base(), { moment: null });
    // A look that found nothing to do holds until the certificate it saw expires, at the latest.
    expect(momentsExpiry(far)).toBe(T0 + 60 * DAY);
    expect(momentsExpiry(withDecision(base(), { action: "renew", moment: null, reason: "due" }))).toBe(Number.POSITIVE_INFINITY);
    expect(momentsExpiry(input)).toBe(T0 + 1000);
    expect(momentsExpiry(withLook(far, { ari: { certId: "x", window: null, explanationUrl: null, polledAt: new Date(T0), nextPollAt: new Date(T0 + 2000), error: null } }))).toBe(T0 + 2000);
    expect(momentsExpiry(withDecision(base(), { moment: { at: new Date(T0 + 3000), reason: "lifetime" } }))).toBe(T0 + 3000);
    // Once past, a moment no longer changes anything.
    expect(momentsExpiry({ ...input, now: new Date(T0 + 5000) })).toBeGreaterThan(T0 + 5000);
  });

  test("the whole array is reused while every row is, and rebuilt when one changes or the certs do", () => {
    const rows = new CertRows();
    const www = base();
    const other = { ...base(), id: "other" };
    const expected = (inputs: CertViewInput[]) => `[${inputs.map((i) => JSON.stringify(certJson(i))).join(",")}]`;
    expect(rows.list([www, other])).toBe(expected([www, other]));
    const again = [fresh(www), fresh(other)];
    expect(rows.list(again)).toBe(expected(again));
    const busy = [www, { ...other, busy: true }];
    expect(rows.list(busy)).toBe(expected(busy));
    expect(rows.list([other, www])).toBe(expected([other, www]));
    expect(rows.list([www])).toBe(expected([www]));
    expect(rows.list([])).toBe("[]");
  });

  describe("again: the last array without inputs", () => {
    const expected = (inputs: CertViewInput[]) => `[${inputs.map((i) => JSON.stringify(certJson(i))).join(",")}]`;
    /** Three certs, one with a renewal moment 50.5 hours on, listed once from `sources`; `source` answers as the inputs say. */
    function listed(sources: object[]) {
      const certs = ["a", "b", "c"].map((id, n) => withDecision({ ...base(), id }, { notAfter: new Date(T0 + (60 + n) * DAY + n * 1_234_567) }));
      certs[2] = withDecision(certs[2]!, { moment: { at: new Date(T0 + 50.5 * 3_600_000), reason: "lifetime" } });
      const rows = new CertRows();
      const text = rows.list(certs, sources);
      const looks = new Map(certs.map((i) => [i.id, i.look]));
      const busy = new Set<string>();
      const failures = new Map<string, NodeInstallFailure>();
      const source = { look: (id: string) => looks.get(id), busy: (id: string) => busy.has(id), installFailure: (id: string) => failures.get(id) ?? null };
      return { rows, certs, text, looks, busy, failures, source };
    }

    test("sweeps and hours passing: the text is certJson's at each moment, no row rebuilt, and the same text while nothing moved", () => {
      const sources = [{}, {}];
      const { rows, certs, text, source } = listed(sources);
      expect(text).toBe(expected(certs));
      for (let sweep = 1; sweep <= 50; sweep++) {
        const now = new Date(T0 + sweep * 3_600_000);
        const nextTick = new Date(now.getTime() + 3_600_000);
        const moved = rows.again(sources, now, nextTick, source);
        expect(moved).toBe(expected(certs.map((i) => ({ ...i, now, nextTick }))));
        expect(rows.again([...sources], now, nextTick, source)).toBe(moved);
      }
      expect(rows.builds).toBe(3);
    });

    test("null once a source, a look, a busy flag or a node's install failure is another, or a row's moment has passed; list then gives certJson's", () => {
      const sources = [{}, {}];
      const { rows, certs, looks, busy, failures, source } = listed(sources);
      const soon = new Date(T0 + 1000);
      expect(rows.again(sources, soon, certs[0]!.nextTick, source)).not.toBeNull();
      expect(rows.again([sources[0]!, {}], soon, certs[0]!.nextTick, source)).toBeNull();
      expect(rows.again([sources[0]!], soon, certs[0]!.nextTick, source)).toBeNull();
      busy.add("b");
      expect(rows.again(sources, soon, certs[0]!.nextTick, source)).toBeNull();
      busy.delete("b");
      failures.set("c", nodeFailure(() => 0.5));
      expect(rows.again(sources, soon, certs[0]!.nextTick, source)).toBeNull();
      failures.delete("c");
      looks.set("a", fresh(certs[0]!).look);
      expect(rows.again(sources, soon, certs[0]!.nextTick, source)).toBeNull();
      looks.set("a", certs[0]!.look);
      expect(rows.again(sources, new Date(T0 + 50.5 * 3_600_000), certs[0]!.nextTick, source)).toBeNull();
      const changed = [certs[0]!, { ...certs[1]!, busy: true }, certs[2]!];
      expect(rows.list(changed, sources)).toBe(expected(changed));
      busy.add("b");
      expect(rows.again(sources, soon, certs[0]!.nextTick, source)).toBe(expected(changed.map((i) => ({ ...i, now: soon }))));
    });

    test("null after a list without sources, or with a cert not looked at yet (the caller waits for first looks)", () => {
      const { rows, certs, source } = listed([]);
      rows.list(certs);
      expect(rows.again([], certs[0]!.now, certs[0]!.nextTick, source)).toBeNull();
      rows.list([...certs, { ...base(), id: "new", look: undefined }], []);
      expect(rows.again([], certs[0]!.now, certs[0]!.nextTick, source)).toBeNull();
    });
  });

  test("keepOnly forgets certs a reload removed", () => {
    const rows = new CertRows();
    rows.row(base());
    rows.row({ ...base(), id: "other" });
    rows.keepOnly(["www", "other"]);
    expect(rows.size).toBe(2);
    rows.keepOnly(["other"]);
    expect(rows.size).toBe(1);
  });
});
