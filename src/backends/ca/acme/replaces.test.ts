/** @module Which refusals of `replaces` a newOrder without it gets past (issue 12 §3), and how the submit step names the order. */
import { describe, expect, test } from "bun:test";
import { RotaError } from "../../../errors.ts";
import { describeOrder, replacesRefusal } from "./acme-ca.ts";
import { AcmeProblem } from "./transport.ts";

const problem = (type: string, status: number) => new AcmeProblem(`acme le: new order: x (HTTP ${status} ${type})`, "x", type, status);
const CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

describe("the replaces retry matrix", () => {
  const cases: Array<[string, unknown, string | undefined, string | undefined]> = [
    ["alreadyReplaced (a crash between finalize and persist)", problem("alreadyReplaced", 409), CERT_ID, "alreadyReplaced"],
    ["alreadyReplaced on 400", problem("alreadyReplaced", 400), CERT_ID, "alreadyReplaced"],
    ["pebble ≤ 2.9: HTTP 409 malformed", problem("malformed", 409), CERT_ID, "HTTP 409 malformed"],
    ["unauthorized (another account's certificate)", problem("unauthorized", 403), CERT_ID, "unauthorized"],
    ["serverInternal (pebble 2.10 and a 0x00 serial)", problem("serverInternal", 500), CERT_ID, "serverInternal"],
    ["malformed on 400 is the order's own fault", problem("malformed", 400), CERT_ID, undefined],
    ["rejectedIdentifier", problem("rejectedIdentifier", 400), CERT_ID, undefined],
    ["invalidProfile", problem("invalidProfile", 400), CERT_ID, undefined],
    ["no replaces sent: nothing to drop", problem("alreadyReplaced", 409), undefined, undefined],
    ["a rate limit", new RotaError("rate_limited", "acme le: slow down (HTTP 429)", { acmeType: "rateLimited", retryAfterSeconds: 120 }), CERT_ID, undefined],
    ["a network error", new RotaError("network", "acme le: https://ca: ECONNRESET"), CERT_ID, undefined],
    ["acme-client's own error", new Error("Unable to locate API resource URL"), CERT_ID, undefined],
  ];
  for (const [name, err, replaces, expected] of cases) {
    test(`${name} → ${expected ?? "no retry without replaces"}`, () => {
      expect(replacesRefusal(err, replaces)).toBe(expected);
    });
  }
});

describe("the submit step's name for the order", () => {
  test("profile and replaces, the certID cut", () => {
    expect(describeOrder("le", { profile: "shortlived", replaces: CERT_ID })).toBe("le (profile shortlived, replaces aYhb….AIdlQyE)");
    expect(describeOrder("le", { replaces: CERT_ID })).toBe("le (replaces aYhb….AIdlQyE)");
    expect(describeOrder("le", { profile: "classic" })).toBe("le (profile classic)");
    expect(describeOrder("le", {})).toBe("le");
  });

  test("a refused replaces says so", () => {
    expect(describeOrder("le", { profile: "shortlived", dropped: "alreadyReplaced" })).toBe("le (profile shortlived, replaces refused (alreadyReplaced), ordered without it)");
  });
});
