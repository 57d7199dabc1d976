/** @module The daemon/child wire format keeps Dates as Dates and an error's retry hints; a malformed request is named, not thrown raw. */
import { describe, expect, test } from "bun:test";
import { RotaError, describeError, retryAfterOf } from "../errors.ts";
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

test("a success carries the issued certificate's dates as Dates", () => {
  const issued = {
    certId: "c",
    renewalId: "r",
    leafPem: "L",
    chainPem: "C",
    serial: "0a",
    notBefore: new Date("2030-01-01T00:00:00Z"),
    notAfter: new Date("2030-04-01T00:00:00Z"),
    issuedAt: new Date("2030-01-01T00:00:05Z"),
  };
  const back = outcomeFromWire(parseChildLine(JSON.stringify(outcomeToWire({ ok: true, issued }))) as never);
  expect(back).toEqual({ ok: true, issued });
});

describe("the request line", () => {
  const valid = { config: { audit: { path: "/var/lib/rota/rota.db" }, daemon: { stateDir: "/var/lib/rota" } }, certId: "app", renewalId: "r1", trigger: "manual" };

  test("a complete request is read as sent", () => {
    expect(parseChildRequest(JSON.stringify(valid)) as unknown).toEqual(valid);
    expect(parseChildRequest(JSON.stringify({ ...valid, installOnly: ["disk"] })).installOnly).toEqual(["disk"]);
  });

  test.each([
    ["garbage", "pipeline: bad renewal request: not JSON: JSON Parse error: Unexpected identifier \"garbage\""],
    ["null", "pipeline: bad renewal request: not a JSON object"],
    ["[1]", "pipeline: bad renewal request: not a JSON object"],
    ["{}", "pipeline: bad renewal request: missing or invalid config.audit.path, config.daemon.stateDir, certId, renewalId, trigger"],
    [JSON.stringify({ ...valid, trigger: "whenever", installOnly: "disk" }), "pipeline: bad renewal request: missing or invalid trigger, installOnly"],
    [JSON.stringify({ ...valid, config: { audit: {}, daemon: { stateDir: 1 } }, certId: 7 }), "pipeline: bad renewal request: missing or invalid config.audit.path, config.daemon.stateDir, certId"],
  ])("%s is refused as a bad_request", (line, message) => {
    let err: unknown;
    try {
      parseChildRequest(line);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RotaError);
    expect((err as RotaError).code).toBe("bad_request");
    expect(describeError(err)).toBe(message);
  });
});
