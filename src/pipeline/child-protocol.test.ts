/**
 * @module The daemon/child wire format keeps Dates as Dates and an error's retry hints; a
 * malformed request or store write is named, not thrown raw, and a private key never
 * passes as part of an issued certificate.
 */
import { describe, expect, test } from "bun:test";
import { RotaError, describeError, retryAfterOf } from "../errors.ts";
import { COMMIT, VERSION } from "../cli/version.ts";
import { outcomeFromWire, outcomeToWire, parseChildLine, parseChildRequest } from "./child-protocol.ts";

test("a step event comes back with a Date", () => {
  const at = new Date("2030-01-01T00:00:01.234Z");
  const line = JSON.stringify({ event: { type: "renewal.step", renewalId: "r", certId: "c", step: "publish", status: "ok", message: "m", durationMs: 3, at } });
  const parsed = parseChildLine(line);
  expect("event" in parsed && parsed.event.at).toEqual(at);
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

describe("the request line", () => {
  const valid = { config: { daemon: { stateDir: "/var/lib/rota" } }, certId: "app", renewalId: "r1", trigger: "manual", latestIssued: null };

  test("a complete request is read as sent", () => {
    expect(parseChildRequest(JSON.stringify(valid)) as unknown).toEqual(valid);
    expect(parseChildRequest(JSON.stringify({ ...valid, installOnly: ["disk"] })).installOnly).toEqual(["disk"]);
  });

  test("the stored certificate comes with Dates, and only its own fields", () => {
    expect(parseChildRequest(JSON.stringify({ ...valid, latestIssued: { ...issued, privateKeyPem: KEY } })).latestIssued).toEqual(issued);
  });

  test.each([
    ["garbage", "pipeline: bad renewal request: not JSON: JSON Parse error: Unexpected identifier \"garbage\""],
    ["null", "pipeline: bad renewal request: not a JSON object"],
    ["[1]", "pipeline: bad renewal request: not a JSON object"],
    ["{}", "pipeline: bad renewal request: missing or invalid config.daemon.stateDir, certId, renewalId, trigger, latestIssued"],
    [JSON.stringify({ ...valid, trigger: "whenever", installOnly: "disk" }), "pipeline: bad renewal request: missing or invalid trigger, installOnly"],
    [JSON.stringify({ ...valid, config: { daemon: { stateDir: 1 } }, certId: 7 }), "pipeline: bad renewal request: missing or invalid config.daemon.stateDir, certId"],
    [JSON.stringify({ ...valid, latestIssued: { ...issued, leafPem: KEY, notAfter: "soon" } }), "pipeline: bad renewal request: missing or invalid latestIssued.leafPem, latestIssued.notAfter"],
  ])("%s is refused as a bad_request", (line, message) => {
    const err = thrown(() => parseChildRequest(line));
    expect(err.code).toBe("bad_request");
    expect(describeError(err)).toBe(message);
  });
});

describe("a request from a daemon of another build", () => {
  const valid = { config: { daemon: { stateDir: "/var/lib/rota" } }, certId: "app", renewalId: "r1", trigger: "manual", latestIssued: null };

  test("is refused, naming both versions, and not retried", () => {
    const err = thrown(() => parseChildRequest(JSON.stringify({ ...valid, daemon: { version: "0.0.1", commit: "3f2a9c1d0b7e" } })));
    expect(err.code).toBe("binary_replaced");
    expect(err.noRetry).toBe(true);
    expect(err.message).toBe(`rota was replaced while the daemon runs (daemon 0.0.1, binary ${VERSION}): restart the daemon`);
  });

  test("of the same version but another commit is refused, naming both commits", () => {
    const err = thrown(() => parseChildRequest(JSON.stringify({ ...valid, daemon: { version: VERSION, commit: "000000000000" } })));
    expect(err.message).toBe(`rota was replaced while the daemon runs (daemon ${VERSION} 000000000000, binary ${VERSION} ${COMMIT}): restart the daemon`);
  });

  test("of this build is read as sent", () => {
    expect(parseChildRequest(JSON.stringify({ ...valid, daemon: { version: VERSION, commit: COMMIT } })).daemon).toEqual({ version: VERSION, commit: COMMIT });
  });
});

describe("store writes", () => {
  const installed = { certId: "app", target: "disk", serial: "0a", installedAt: new Date("2030-01-01T00:00:06Z") };

  test("an issued certificate and an install come back as sent, with Dates", () => {
    expect(parseChildLine(JSON.stringify({ store: "issued", issued }))).toEqual({ store: "issued", issued });
    expect(parseChildLine(JSON.stringify({ store: "installed", installed }))).toEqual({ store: "installed", installed });
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
