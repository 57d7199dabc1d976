/** @module `[http] listen` parsing, the loopback rule and what a token may hold. */
import { describe, expect, test } from "bun:test";
import { isLoopback, parseListen, readHttp, tokenProblem } from "./http.ts";
import { Problems, Reader } from "./reader.ts";

describe("parseListen", () => {
  test.each([
    ["127.0.0.1:8844", { host: "127.0.0.1", port: 8844, ipv6: false }],
    ["0.0.0.0:443", { host: "0.0.0.0", port: 443, ipv6: false }],
    ["[::1]:8844", { host: "::1", port: 8844, ipv6: true }],
    ["[::]:8844", { host: "::", port: 8844, ipv6: true }],
  ])("%s", (text, want) => expect(parseListen(text)).toEqual(want));

  test.each([
    ["localhost:8844", "must be a bind address such as 127.0.0.1, 0.0.0.0 or [::1], not a hostname"],
    ["nas.example.com:8844", "must be a bind address such as 127.0.0.1, 0.0.0.0 or [::1], not a hostname"],
    ["127.0.0.1", "must be host:port (IPv6 as [::1]:8844)"],
    [":8844", "must be host:port (IPv6 as [::1]:8844)"],
    ["::1:8844", "must be host:port (IPv6 as [::1]:8844)"],
    ["[localhost]:8844", "must be a bind address such as 127.0.0.1, 0.0.0.0 or [::1], not a hostname"],
    ["127.0.0.1:0", "port must be between 1 and 65535"],
    ["127.0.0.1:65536", "port must be between 1 and 65535"],
    ["[127.0.0.1]:80", "brackets are for IPv6 addresses: 127.0.0.1:8844"],
  ])("%s is refused", (text, why) => expect(parseListen(text)).toBe(why));
});

test("loopback: 127/8 and ::1, not the wildcard", () => {
  expect(isLoopback("127.0.0.1")).toBe(true);
  expect(isLoopback("127.1.2.3")).toBe(true);
  expect(isLoopback("::1")).toBe(true);
  expect(isLoopback("0.0.0.0")).toBe(false);
  expect(isLoopback("::")).toBe(false);
  expect(isLoopback("192.168.1.2")).toBe(false);
});

describe("tokenProblem", () => {
  const MAKE = "(make one with: head -c 32 /dev/urandom | base64)";
  test.each(["c29tZS1yYW5kb20tYnl0ZXMtaGVyZQ==", "a-long-enough-token-value", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~09"])("%s is a token", (token) => expect(tokenProblem(token)).toBeUndefined());

  test.each([
    ["short", `the token is 5 characters; use at least 16 ${MAKE}`],
    ["correct horse battery staple", `the token contains whitespace, which an "Authorization: Bearer" header cannot carry ${MAKE}`],
    ["tab\tseparated-token-value", `the token contains whitespace, which an "Authorization: Bearer" header cannot carry ${MAKE}`],
    [" leading-space-token-value", `the token contains whitespace, which an "Authorization: Bearer" header cannot carry ${MAKE}`],
    ["bücher-token-value-long-enough", `the token contains a character outside printable ASCII, which an "Authorization: Bearer" header cannot carry ${MAKE}`],
    ["nul\u0000-in-the-token-value", `the token contains a character outside printable ASCII, which an "Authorization: Bearer" header cannot carry ${MAKE}`],
  ])("%p is refused", (token, why) => expect(tokenProblem(token)).toBe(why));
});

describe("public_url", () => {
  function read(publicUrl: string): { publicUrl: string | undefined; problems: string[] } {
    const problems = new Problems();
    const r = new Reader({ public_url: publicUrl }, "http", { problems, baseDir: "/", env: {} });
    return { publicUrl: readHttp(r, [], []).publicUrl, problems: problems.list };
  }

  test("an origin, with or without the trailing slash", () => {
    expect(read("https://rota.example.test")).toEqual({ publicUrl: "https://rota.example.test", problems: [] });
    expect(read("https://rota.example.test:8844/")).toEqual({ publicUrl: "https://rota.example.test:8844", problems: [] });
  });

  test("a path is refused, not cut: the dashboard is served at the root of its host", () => {
    expect(read("https://rota.example.test/base")).toEqual({
      publicUrl: undefined,
      problems: ['http.public_url: "https://rota.example.test/base" has a path (/base): the dashboard is served at the root of its host, so give the origin alone ("https://rota.example.test")'],
    });
    expect(read("https://rota.example.test/base/").problems).toHaveLength(1);
  });
});
