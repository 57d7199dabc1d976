/**
 * @module nextDelayMs: the ACME poll interval grows from 150 ms to a 5 s cap, and the CA's
 * Retry-After wins up to 60 s. failureCode: which invalid authorizations count toward a halt.
 */
import { describe, expect, test } from "bun:test";
import { failureCode, nextDelayMs } from "./poll.ts";

describe("nextDelayMs", () => {
  test("starts at 150 ms and grows by 1.6 each poll", () => {
    const delays: number[] = [];
    let d = 0;
    for (let i = 0; i < 5; i++) delays.push((d = nextDelayMs(d, undefined)));
    expect(delays.map((x) => Math.round(x * 100) / 100)).toEqual([150, 240, 384, 614.4, 983.04]);
  });

  test("is capped at 5 s and stays there", () => {
    let d = 0;
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) seen.push((d = nextDelayMs(d, undefined)));
    expect(Math.max(...seen)).toBe(5_000);
    expect(seen.slice(-5)).toEqual([5_000, 5_000, 5_000, 5_000, 5_000]);
    expect(seen.indexOf(5_000)).toBe(8);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
  });

  test("the CA's Retry-After is honoured, longer or shorter than our own delay", () => {
    expect(nextDelayMs(0, 3)).toBe(3_000);
    expect(nextDelayMs(5_000, 1)).toBe(1_000);
    expect(nextDelayMs(150, 30)).toBe(30_000);
  });

  test("a Retry-After is capped at 60 s", () => {
    expect(nextDelayMs(0, 60)).toBe(60_000);
    expect(nextDelayMs(0, 61)).toBe(60_000);
    expect(nextDelayMs(0, 86_400)).toBe(60_000);
  });

  test("after a long Retry-After, our own delay resumes at its cap", () => {
    expect(nextDelayMs(60_000, undefined)).toBe(5_000);
  });
});

describe("failureCode", () => {
  const authz = (type: string | undefined, where: "challenge" | "authz" = "challenge") => {
    const error = type === undefined ? { detail: "no type" } : { type: `urn:ietf:params:acme:error:${type}`, detail: "x" };
    return where === "challenge" ? { status: "invalid", challenges: [{ type: "http-01", status: "invalid", error }] } : { status: "invalid", error };
  };

  test.each(["unauthorized", "connection", "dns", "caa"])("an authorization invalid with %s is authz_invalid", (type) => {
    expect(failureCode("authorization", authz(type))).toBe("authz_invalid");
    expect(failureCode("authorization", authz(type, "authz"))).toBe("authz_invalid");
  });

  test("other problems, an order, or an authorization that expired or was deactivated stay validation_failed", () => {
    expect(failureCode("authorization", authz("serverInternal"))).toBe("validation_failed");
    expect(failureCode("authorization", authz("rejectedIdentifier"))).toBe("validation_failed");
    expect(failureCode("authorization", authz(undefined))).toBe("validation_failed");
    expect(failureCode("order", authz("unauthorized"))).toBe("validation_failed");
    expect(failureCode("authorization", { status: "expired", error: { type: "urn:ietf:params:acme:error:unauthorized" } })).toBe("validation_failed");
    expect(failureCode("authorization", { status: "invalid", challenges: [{ type: "http-01", status: "invalid", error: { type: "connection" } }] })).toBe("validation_failed");
  });
});
