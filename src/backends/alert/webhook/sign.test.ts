/** @module The signature a receiver checks: a known value, and every way a forged or replayed request fails. */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { sign, verifySignature } from "./sign.ts";

const secret = "whsec-test";
const body = '{"version":1}';
const at = new Date("2030-01-01T00:00:00.500Z");
const t = 1893456000;

describe("sign", () => {
  test("t is whole unix seconds, v1 the hex HMAC-SHA256 of '<t>.<body>'", () => {
    const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
    expect(sign(secret, body, at)).toBe(`t=${t},v1=${expected}`);
  });
});

describe("verifySignature", () => {
  const header = sign(secret, body, at);

  test("accepts its own signature, within 5 minutes either way", () => {
    expect(verifySignature(header, secret, body, at)).toBe(true);
    expect(verifySignature(header, secret, body, new Date((t + 300) * 1000))).toBe(true);
    expect(verifySignature(header, secret, body, new Date((t - 300) * 1000))).toBe(true);
  });

  test("refuses a request older than 5 minutes (a replay)", () => {
    expect(verifySignature(header, secret, body, new Date((t + 301) * 1000))).toBe(false);
  });

  test("refuses another body, another secret, another timestamp", () => {
    expect(verifySignature(header, secret, `${body} `, at)).toBe(false);
    expect(verifySignature(header, "other", body, at)).toBe(false);
    expect(verifySignature(header.replace(`t=${t}`, `t=${t + 1}`), secret, body, at)).toBe(false);
  });

  test.each(["", "t=1893456000", "v1=00", `t=abc,v1=${"0".repeat(64)}`, `t=${t},v1=${"0".repeat(63)}`, `t=${t},v1=${"G".repeat(64)}`])(
    "refuses malformed %p",
    (h) => {
      expect(verifySignature(h, secret, body, at)).toBe(false);
    },
  );
});
