/**
 * @module The list's cached rows: after every kind of change (a new look, a renewal, a
 * failure state, a reload, time passing) a row is exactly what certJson gives at that
 * moment, and an unchanged cert is not serialized again.
 */
import { describe, expect, spyOn, test } from "bun:test";
import type { Decision } from "../scheduler/due.ts";
import type { CertLook, TargetLook } from "../scheduler/scheduler.ts";
import type { CertState, RenewalHead } from "../store/types.ts";
import { CertRows } from "./cert-rows.ts";
import { certJson, rowExpiry, type CertViewInput } from "./cert-view.ts";

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
    const stringify = spyOn(JSON, "stringify");
    try {
      rows.row(input);
      for (let n = 0; n < 100; n++) {
        input = { ...fresh(input), now: new Date(input.now.getTime() + 1000) };
        rows.row(input);
      }
      expect(stringify).toHaveBeenCalledTimes(1);
    } finally {
      stringify.mockRestore();
    }
  });

  test("days_left: the row is rebuilt at the hundredth of a day, not before", () => {
    const input = base();
    const expires = rowExpiry(input);
    const days = (ms: number) => (JSON.parse(new CertRows().row({ ...input, now: new Date(ms) })) as { days_left: number }).days_left;
    expect(days(expires)).toBe(days(input.now.getTime()));
    expect(days(expires + 2)).toBe(days(input.now.getTime()) - 0.01);
  });

  test("a cooldown's end, a renewal moment and an ARI poll each end a row's life once reached", () => {
    const input = { ...base(), state: { certId: "www", consecutiveFailures: 1, retryAt: new Date(T0 + 1000), lastError: null, authzFailures: 0, haltedAt: null } };
    expect(rowExpiry(input)).toBe(T0 + 1000);
    expect(rowExpiry(withLook(base(), { ari: { certId: "x", window: null, explanationUrl: null, polledAt: new Date(T0), nextPollAt: new Date(T0 + 2000), error: null } }))).toBe(T0 + 2000);
    expect(rowExpiry(withDecision(base(), { moment: { at: new Date(T0 + 3000), reason: "lifetime" } }))).toBe(T0 + 3000);
    // Once past, a moment no longer changes anything.
    expect(rowExpiry({ ...input, now: new Date(T0 + 5000) })).toBeGreaterThan(T0 + 5000);
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
