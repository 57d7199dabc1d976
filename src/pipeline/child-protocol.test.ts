/**
 * @module The daemon/worker wire format keeps Dates as Dates and an error's retry hints; a
 * malformed request or store write is named, not thrown raw, and a private key never
 * passes as part of an issued certificate.
 */
import { describe, expect, test } from "bun:test";
import { RotaError, describeError, retryAfterOf } from "../errors.ts";
import { COMMIT, VERSION } from "../cli/version.ts";
import { outcomeFromWire, outcomeToWire, parseChildLine, parseChildRequest, parseDaemonLine, parseHello, refusedRenewal } from "./child-protocol.ts";

test("a step event comes back with a Date", () => {
  const at = new Date("2030-01-01T00:00:01.234Z");
  const line = JSON.stringify({ event: { type: "renewal.step", renewalId: "r", certId: "c", step: "publish", status: "ok", message: "m", durationMs: 3, at } });
  const parsed = parseChildLine(line);
  expect("event" in parsed && parsed.event.at).toEqual(at);
});

test("Dates come back where the types have them, and text that looks like a time stays text", () => {
  const at = new Date("2030-01-01T00:00:01.234Z");
  const retryAt = new Date("2030-01-01T00:15:00Z");
  const event = { type: "renewal.failed", renewalId: "r", certId: "c", at, error: "2030-01-01T00:00:00Z", interrupted: false, retryAt };
  expect(parseChildLine(JSON.stringify({ event }))).toEqual({ event: { ...event, at, retryAt } } as never);
  const step = { type: "renewal.step", renewalId: "r", certId: "c", step: "key", status: "ok", message: "2030-01-01T00:00:00Z", durationMs: 1, at };
  expect((parseChildLine(JSON.stringify({ event: step })) as { event: { message: unknown } }).event.message).toBe("2030-01-01T00:00:00Z");
  const failed = JSON.parse(JSON.stringify(outcomeToWire({ ok: false, error: new RotaError("x", "2030-01-01T00:00:00Z"), interrupted: false })));
  expect(parseChildLine(JSON.stringify(failed))).toEqual(failed);
});

test("an outcome says when a write is still in flight in the worker, and only then", () => {
  const o = { ok: false as const, error: new RotaError("timeout", "cloudflare cf: no reply"), interrupted: false };
  expect(parseChildLine(JSON.stringify(outcomeToWire(o, 1, true)))).toMatchObject({ lingering: true, rssBytes: 1 });
  expect(JSON.parse(JSON.stringify(outcomeToWire(o, 1)))).not.toHaveProperty("lingering");
});

test("a failure keeps its message, code, Retry-After and no-retry mark", () => {
  const err = new RotaError("rate_limited", "acme le: too many certificates", { retryAfterSeconds: 3600, noRetry: true });
  const wire = JSON.parse(JSON.stringify(outcomeToWire({ ok: false, error: err, interrupted: false })));
  const back = outcomeFromWire(parseChildLine(JSON.stringify(wire)) as typeof wire);
  expect(back.ok).toBe(false);
  if (back.ok) return;
  expect(back.error).toBeInstanceOf(RotaError);
  expect((back.error as RotaError).message).toBe("acme le: too many certificates");
  expect((back.error as RotaError).code).toBe("rate_limited");
  expect((back.error as RotaError).noRetry).toBe(true);
  expect(retryAfterOf(back.error)).toBe(3600);
});

const issued = {
  certId: "app",
  renewalId: "r",
  leafPem: "-----BEGIN CERTIFICATE-----\nL\n-----END CERTIFICATE-----\n",
  chainPem: "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n",
  serial: "0a",
  notBefore: new Date("2030-01-01T00:00:00Z"),
  notAfter: new Date("2030-04-01T00:00:00Z"),
  issuedAt: new Date("2030-01-01T00:00:05Z"),
};
const KEY = "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n";

/** The RotaError a call throws. */
function thrown(fn: () => unknown): RotaError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RotaError);
    return err as RotaError;
  }
  throw new Error("did not throw");
}

test("a success carries the issued certificate's dates as Dates", () => {
  const back = outcomeFromWire(parseChildLine(JSON.stringify(outcomeToWire({ ok: true, issued }))) as never);
  expect(back).toEqual({ ok: true, issued });
});

describe("lines from the daemon", () => {
  const cert = { id: "app", domains: ["app.example"], ca: "internal", dcv: undefined, install: ["disk"], keyPath: "/k", keyType: "ecdsa-p256", keyRotation: "never" };
  const sections = { cert, ca: { name: "internal", type: "local", options: {} }, dcv: null, installs: [{ name: "disk", type: "filesystem", options: { dir: "/c" } }] };
  const valid = { ...sections, renewalId: "r1", trigger: "manual", latestIssued: null };
  const renew = (req: unknown) => parseDaemonLine(JSON.stringify({ renew: req }));

  test("a complete request is read as sent", () => {
    expect(renew(valid) as unknown).toEqual({ renew: JSON.parse(JSON.stringify(valid)) });
    expect(renew({ ...valid, installOnly: ["disk"] })).toMatchObject({ renew: { installOnly: ["disk"] } });
  });

  test("the stored certificate comes with Dates, and only its own fields", () => {
    expect(renew({ ...valid, latestIssued: { ...issued, privateKeyPem: KEY } })).toMatchObject({ renew: { latestIssued: issued } });
  });

  test("a cluster-mode run comes with its fence (or null), and only the fence's own fields", () => {
    const fence = { nodeId: "nas-1", instance: "i-1", term: 7 };
    expect(renew({ ...valid, cluster: { fence: { ...fence, extra: 1 } } })).toMatchObject({ renew: { cluster: { fence } } });
    expect((renew({ ...valid, cluster: { fence: { ...fence, extra: 1 } } }) as { renew: { cluster: { fence: object } } }).renew.cluster.fence).toEqual(fence);
    expect(renew({ ...valid, cluster: { fence: null } })).toMatchObject({ renew: { cluster: { fence: null } } });
    expect("cluster" in (renew(valid) as { renew: object }).renew).toBe(false);
  });

  test("the answer to a fenced write names the renewal, the serial and the store's error", () => {
    const error = { message: "cluster: not stored: nas-1 no longer holds the lease at term 7", code: "fenced", noRetry: true };
    expect(parseDaemonLine(JSON.stringify({ stored: { renewalId: "r1", serial: "0a", error } }))).toEqual({ stored: { renewalId: "r1", serial: "0a", error } });
    expect(parseDaemonLine(JSON.stringify({ stored: { renewalId: "r1", serial: "0a", error: null } }))).toEqual({ stored: { renewalId: "r1", serial: "0a", error: null } });
  });

  test("a cancel names the renewal and the reason", () => {
    expect(parseDaemonLine(JSON.stringify({ cancel: { renewalId: "r1", reason: "daemon stopping" } }))).toEqual({ cancel: { renewalId: "r1", reason: "daemon stopping" } });
  });

  test("the hello hands the state folder and the variables commands must not inherit; without the list no renewal runs; anything else first is refused", () => {
    const hello = { stateDir: "/var/lib/rota", withheldEnv: ["CF_API_TOKEN", "SMTP_PASSWORD"] };
    expect(parseHello(JSON.stringify({ hello: { ...hello, extra: 1 } }))).toEqual(hello);
    expect(refusedRenewal(hello)).toBeNull();
    expect(describeError(thrown(() => parseHello("{}")))).toBe("pipeline: bad worker hello: missing or invalid hello.stateDir");
    // An older daemon's hello has no list: taken, so its requests get the version check's answer, but no renewal runs.
    const older = parseHello(JSON.stringify({ hello: { stateDir: "/var/lib/rota" } }));
    expect(older).toEqual({ stateDir: "/var/lib/rota", withheldEnv: null });
    expect(refusedRenewal(older)).toMatchObject({ code: "bad_request", noRetry: true });
    expect(describeError(thrown(() => parseHello(JSON.stringify({ hello: { stateDir: "/x", withheldEnv: ["A", 1] } }))))).toBe("pipeline: bad worker hello: missing or invalid hello.withheldEnv");
  });

  test.each([
    ["garbage", "pipeline: bad renewal request: not JSON: JSON Parse error: Unexpected identifier \"garbage\""],
    ["null", "pipeline: bad renewal request: not a JSON object"],
    ["[1]", "pipeline: bad renewal request: not a JSON object"],
    ["{}", "pipeline: bad renewal request: neither renew nor cancel"],
    [JSON.stringify({ renew: [] }), "pipeline: bad renewal request: not a JSON object"],
    [JSON.stringify({ renew: {} }), "pipeline: bad renewal request: missing or invalid cert, ca, dcv, installs, renewalId, trigger, latestIssued"],
    [JSON.stringify({ renew: { ...valid, trigger: "whenever", installOnly: "disk" } }), "pipeline: bad renewal request: missing or invalid trigger, installOnly"],
    [JSON.stringify({ renew: { ...valid, cert: { id: 7 }, ca: { name: "internal" }, renewalId: 7 } }), "pipeline: bad renewal request: missing or invalid cert, ca, renewalId"],
    [JSON.stringify({ renew: { ...valid, latestIssued: { ...issued, leafPem: KEY, notAfter: "soon" } } }), "pipeline: bad renewal request: missing or invalid latestIssued.leafPem, latestIssued.notAfter"],
    [JSON.stringify({ cancel: { renewalId: "r1" } }), "pipeline: bad cancel: missing or invalid renewalId, reason"],
    [JSON.stringify({ renew: { ...valid, cluster: { fence: { nodeId: "nas-1", term: "7" } } } }), "pipeline: bad renewal request: missing or invalid cluster"],
    [JSON.stringify({ renew: { ...valid, cluster: true } }), "pipeline: bad renewal request: missing or invalid cluster"],
    [JSON.stringify({ stored: { renewalId: "r1", error: "no" } }), "pipeline: bad store answer: missing or invalid renewalId, serial, error"],
  ])("%s is refused as a bad_request", (line, message) => {
    const err = thrown(() => parseDaemonLine(line));
    expect(err.code).toBe("bad_request");
    expect(describeError(err)).toBe(message);
  });
});

describe("a request from a daemon of another build", () => {
  const cert = { id: "app", domains: ["app.example"], install: ["disk"] };
  const valid = { cert, ca: { name: "internal", type: "local", options: {} }, dcv: null, installs: [{ name: "disk", type: "filesystem", options: {} }], renewalId: "r1", trigger: "manual", latestIssued: null };

  test("is refused, naming both versions; backed off as usual, not at the cap: a restart fixes it, and the cooldown outlives the restart", () => {
    const err = thrown(() => parseChildRequest({ ...valid, daemon: { version: "0.0.1", commit: "3f2a9c1d0b7e" } }));
    expect(err.code).toBe("binary_replaced");
    expect(err.noRetry).toBe(false);
    expect(err.message).toBe(`rota was replaced while the daemon runs (daemon 0.0.1, binary ${VERSION}): restart the daemon`);
  });

  test("of the same version but another commit is refused, naming both commits", () => {
    const err = thrown(() => parseChildRequest({ ...valid, daemon: { version: VERSION, commit: "000000000000" } }));
    expect(err.message).toBe(`rota was replaced while the daemon runs (daemon ${VERSION} 000000000000, binary ${VERSION} ${COMMIT}): restart the daemon`);
  });

  test("of this build is read as sent", () => {
    expect(parseChildRequest({ ...valid, daemon: { version: VERSION, commit: COMMIT } }).daemon).toEqual({ version: VERSION, commit: COMMIT });
  });
});

describe("store writes", () => {
  const installed = { certId: "app", target: "disk", serial: "0a", installedAt: new Date("2030-01-01T00:00:06Z") };

  test("an issued certificate and an install come back as sent, with Dates", () => {
    expect(parseChildLine(JSON.stringify({ store: "issued", issued }))).toEqual({ store: "issued", issued });
    expect(parseChildLine(JSON.stringify({ store: "installed", installed }))).toEqual({ store: "installed", installed });
  });

  test("a fenced issued certificate keeps its fence; a bad fence is named", () => {
    const fence = { nodeId: "nas-1", instance: "i-1", term: 7 };
    expect(parseChildLine(JSON.stringify({ store: "issued", issued, fence }))).toEqual({ store: "issued", issued, fence });
    expect(thrown(() => parseChildLine(JSON.stringify({ store: "issued", issued, fence: { ...fence, term: null } }))).message).toBe(
      "pipeline: bad store write from the renewal process: missing or invalid fence",
    );
  });

  test("only the fields the store keeps pass: a key put beside the certificate is dropped", () => {
    const line = parseChildLine(JSON.stringify({ store: "issued", issued: { ...issued, privateKeyPem: KEY }, extra: 1 }));
    expect(line).toEqual({ store: "issued", issued });
    expect(JSON.stringify(line)).not.toContain("PRIVATE KEY");
  });

  test.each([
    [{ store: "issued", issued: { ...issued, chainPem: `${issued.chainPem}${KEY}` } }, "missing or invalid issued.chainPem"],
    [{ store: "issued", issued: { ...issued, serial: 10, issuedAt: null } }, "missing or invalid issued.serial, issued.issuedAt"],
    [{ store: "issued" }, "missing or invalid issued"],
    [{ store: "installed", installed: { ...installed, target: null, installedAt: "yesterday" } }, "missing or invalid installed.target, installed.installedAt"],
    [{ store: "renewal", renewal: {} }, 'unknown kind "renewal"'],
  ])("%j is refused as a bad_store_write", (line, what) => {
    const err = thrown(() => parseChildLine(JSON.stringify(line)));
    expect(err.code).toBe("bad_store_write");
    expect(err.message).toBe(`pipeline: bad store write from the renewal process: ${what}`);
  });
});

describe("command groups", () => {
  test("a command's group comes through as it was sent", () => {
    const group = { pgid: 4242, key: "post_install_command", running: true };
    expect(parseChildLine(JSON.stringify({ group }))).toEqual({ group });
  });

  test("a group the daemon must never kill, or a field of the wrong type, is refused", () => {
    const bad = [{ pgid: 1, key: "k", running: true }, { pgid: 0, key: "k", running: true }, { pgid: -5, key: "k", running: true }, { pgid: process.pid, key: "k", running: true }, { pgid: 2.5, key: "k", running: true }, { pgid: 42, running: true }, { pgid: 42, key: "k", running: "yes" }, null];
    for (const group of bad) expect(() => parseChildLine(JSON.stringify({ group }))).toThrow("pipeline: bad command group from the renewal process: missing or invalid pgid, key, running");
  });
});
