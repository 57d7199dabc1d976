import { describe, expect, test } from "bun:test";
import { canonicalIp, isPlainHost, nameKind, normalizeName, toALabel, toUnicode } from "./names.ts";

describe("normalizeName", () => {
  const good: Array<[string, string, string]> = [
    ["a.example", "a.example", "dns"],
    ["A.Example", "a.example", "dns"],
    ["a.example.", "a.example", "dns"],
    ["localhost", "localhost", "dns"],
    ["bücher.example", "xn--bcher-kva.example", "dns"],
    ["Bücher.Example.", "xn--bcher-kva.example", "dns"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example", "dns"],
    ["XN--BCHER-KVA.example", "xn--bcher-kva.example", "dns"],
    ["faß.de", "xn--fa-hia.de", "dns"],
    ["例え.テスト", "xn--r8jz45g.xn--zckzah", "dns"],
    ["*.a.example", "*.a.example", "wildcard"],
    ["*.bücher.example", "*.xn--bcher-kva.example", "wildcard"],
    ["*.bücher.example.", "*.xn--bcher-kva.example", "wildcard"],
    ["127.0.0.1", "127.0.0.1", "ip"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1", "ip"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "ip"],
    ["::1", "::1", "ip"],
  ];
  for (const [written, value, kind] of good) {
    test(`${written} → ${value} (${kind})`, () => {
      expect(normalizeName(written)).toEqual({ value, kind: kind as "dns" });
    });
  }

  const bad = [
    "",
    ".",
    "a..example",
    "a.example..",
    "a_b.example",
    "-a.example",
    "a-.example",
    "a%41.example",
    "bü%41.example",
    "ex ample.example",
    "*.",
    "*",
    "a.*.example",
    "*.*.example",
    "*.127.0.0.1",
    "xn--a.example",
    "münchen-.example",
    "1.2.3",
    "0x7f.0.0.1",
    "01.2.3.4",
    "256.1.1.1",
    "fe80::1%eth0",
    "192.0.2.1.",
    "2001:db8::1.",
    "[::1]",
    "１２７.０.０.１",
    `${"a".repeat(64)}.example`,
    `${"a.".repeat(127)}ab`,
  ];
  for (const written of bad) {
    test(`${JSON.stringify(written)} is refused`, () => {
      expect(normalizeName(written)).toBeUndefined();
    });
  }

  test("the longest names pass", () => {
    expect(normalizeName(`${"a".repeat(63)}.example`)?.value).toBe(`${"a".repeat(63)}.example`);
    expect(normalizeName(`${"a.".repeat(126)}a`)?.value.length).toBe(253);
  });
});

describe("isPlainHost", () => {
  /** Every string of up to 4 of these characters, and names made of labels near each rule's edge. */
  function candidates(): string[] {
    const out: string[] = [""];
    const chars = ["a", "0", "9", "x", "f", "g", "-", "."];
    for (let len = 1, level = [""]; len <= 4; len++) {
      level = level.flatMap((s) => chars.map((c) => s + c));
      out.push(...level);
    }
    const labels = ["a", "0", "00", "123", "0x", "0x1f", "0xg", "1e5", "a-b", "a--b", "-a", "a-", "xn--a", "xn--bcher-kva", "xn--mnchen--n2a", "ab", "a".repeat(63), "a".repeat(64), ""];
    for (const a of labels) for (const b of labels) for (const c of ["", ...labels]) out.push(c === "" ? `${a}.${b}` : `${a}.${b}.${c}`);
    out.push(`${"a.".repeat(126)}a`, `${"a.".repeat(126)}ab`);
    return out;
  }

  test("a name it passes is its own A-label form and no IP address: IDNA would leave it as it is", () => {
    const plain = candidates().filter(isPlainHost);
    expect(plain.length).toBeGreaterThan(500);
    for (const host of plain) {
      expect([host, toALabel(host), canonicalIp(host)]).toEqual([host, host, undefined]);
    }
  });

  test("what needs IDNA or is refused is left to it", () => {
    for (const host of ["xn--bcher-kva.example", "a.0x1f", "a.123", "bücher.example", "a..b", "-a.example", `${"a".repeat(64)}.example`, `${"a.".repeat(126)}ab`]) {
      expect(isPlainHost(host)).toBe(false);
    }
  });
});

describe("canonicalIp", () => {
  test("IPv4 as is, IPv6 as RFC 5952 writes it", () => {
    expect(canonicalIp("10.0.0.1")).toBe("10.0.0.1");
    expect(canonicalIp("2001:0DB8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(canonicalIp("0:0:0:0:0:0:0:1")).toBe("::1");
    expect(canonicalIp("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1");
    expect(canonicalIp("::ffff:192.0.2.1")).toBe("::ffff:c000:201");
    expect(canonicalIp("a.example")).toBeUndefined();
  });
});

describe("nameKind and toUnicode", () => {
  test("classify normal names", () => {
    expect(nameKind("a.example")).toBe("dns");
    expect(nameKind("*.a.example")).toBe("wildcard");
    expect(nameKind("192.0.2.1")).toBe("ip");
    expect(nameKind("2001:db8::1")).toBe("ip");
  });

  test("U-labels for people, IPs and ASCII names as they are", () => {
    expect(toUnicode("xn--bcher-kva.example")).toBe("bücher.example");
    expect(toUnicode("*.xn--bcher-kva.example")).toBe("*.bücher.example");
    expect(toUnicode("a.example")).toBe("a.example");
    expect(toUnicode("2001:db8::1")).toBe("2001:db8::1");
    expect(toUnicode("127.0.0.1")).toBe("127.0.0.1");
  });
});
