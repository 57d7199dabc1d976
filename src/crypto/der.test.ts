/** @module der.ts against the DER rules X.690 sets and against openssl's reading of the same bytes. */
import { describe, expect, test } from "bun:test";
import { bits, bitStringBytes, children, DerError, oid, positiveInteger, readOid, readTime, readTlv, seq, TAG, text, time, tlv } from "./der.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

/** openssl's ASN.1 dump of `der`, one element a line. */
function asn1parse(der: Uint8Array): string {
  const r = Bun.spawnSync(["openssl", "asn1parse", "-inform", "DER"], { stdin: der });
  expect(r.exitCode).toBe(0);
  return r.stdout.toString();
}

describe("der lengths", () => {
  test("short form to 127, long form from 128, minimal at each byte boundary; read back at the same offsets", () => {
    const cases: Array<[number, string]> = [
      [0, "00"],
      [127, "7f"],
      [128, "8180"],
      [255, "81ff"],
      [256, "820100"],
      [65535, "82ffff"],
      [65536, "83010000"],
    ];
    for (const [n, head] of cases) {
      const el = tlv(TAG.octetString, new Uint8Array(n));
      expect(hex(el.subarray(1, 1 + head.length / 2))).toBe(head);
      expect(el.length).toBe(1 + head.length / 2 + n);
      expect(readTlv(el, 0)).toEqual({ tag: TAG.octetString, start: 0, content: 1 + head.length / 2, end: el.length });
      expect(asn1parse(el)).toMatch(new RegExp(`hl=${1 + head.length / 2} l= *${n} prim: OCTET STRING`));
    }
  });

  test("a length that runs past its parent, an indefinite length or a five-byte length is refused", () => {
    for (const bad of ["0481", "048180", "0482ff", "0480", "04850100000000", "3003040201"]) {
      expect(() => children(bytes(bad), readTlv(bytes(bad), 0))).toThrow(DerError);
    }
    // A child that claims more than its parent holds, though the buffer has the bytes.
    const nested = bytes("30020403aabbcc");
    expect(() => children(nested, readTlv(nested, 0))).toThrow(DerError);
  });
});

describe("der INTEGER", () => {
  test("a top bit gets a sign byte; leading zeros go; openssl reads the value", () => {
    expect(hex(positiveInteger(bytes("ff")))).toBe("020200ff");
    expect(hex(positiveInteger(bytes("0000ff")))).toBe("020200ff");
    expect(hex(positiveInteger(bytes("7fff")))).toBe("02027fff");
    expect(hex(positiveInteger(new Uint8Array(0)))).toBe("020100");
    expect(asn1parse(positiveInteger(bytes("80000000000000000000000000000001")))).toContain("INTEGER           :80000000000000000000000000000001");
  });
});

describe("der OBJECT IDENTIFIER", () => {
  test("arcs above 127 (several septets) and a first arc of 2 round-trip, as openssl names them", () => {
    for (const dotted of ["1.2.840.113549.1.1.11", "1.2.840.10045.4.3.3", "2.5.29.17", "1.3.6.1.4.1.311.21.20", "2.999.3", "1.3.6.1.4.1.2147483647"]) {
      const el = oid(dotted);
      expect(readOid(el, readTlv(el, 0))).toBe(dotted);
    }
    expect(hex(oid("1.2.840.113549.1.1.11"))).toBe("06092a864886f70d01010b");
    expect(asn1parse(oid("1.2.840.113549.1.1.11"))).toContain("sha256WithRSAEncryption");
    expect(asn1parse(oid("2.999.3"))).toContain(":2.999.3");
  });

  test("a last arc cut short or an arc padded with 0x80 is refused, not read as a shorter OID", () => {
    // 1.2.840 with its last septet cut; 1.2.840 with a padding septet before 840; 1.2 padded; none.
    for (const bad of ["06022a86", "06042a808648", "0602802a", "0600"]) {
      const el = bytes(bad);
      expect(() => readOid(el, readTlv(el, 0))).toThrow(DerError);
    }
  });
});

describe("der BIT STRING", () => {
  test("whole bytes only: unused bits or an empty BIT STRING are refused", () => {
    const ok = bits(bytes("abcd"));
    expect(hex(bitStringBytes(ok, readTlv(ok, 0)))).toBe("abcd");
    for (const bad of ["0300", "030207ab", "0301" + "01"]) {
      const el = bytes(bad);
      expect(() => bitStringBytes(el, readTlv(el, 0))).toThrow(DerError);
    }
  });
});

describe("der times", () => {
  test("UTCTime through 2049, GeneralizedTime from 2050 and before 1950 (RFC 5280 §4.1.2.5), read back to the second", () => {
    for (const [iso, tag] of [
      ["2049-12-31T23:59:59.000Z", TAG.utcTime],
      ["2050-01-01T00:00:00.000Z", TAG.generalizedTime],
      ["1950-01-01T00:00:00.000Z", TAG.utcTime],
      ["1949-12-31T23:59:59.000Z", TAG.generalizedTime],
    ] as const) {
      const el = time(new Date(iso));
      expect(el[0]).toBe(tag);
      expect(readTime(el, readTlv(el, 0)).toISOString()).toBe(iso);
    }
  });

  test("a date or time of day that does not exist is refused, not rolled over into another one", () => {
    for (const bad of ["261301000000Z", "260230000000Z", "260101240000Z", "260101006000Z", "260101000060Z", "260100000000Z"]) {
      const el = text(TAG.utcTime, bad);
      expect(() => readTime(el, readTlv(el, 0))).toThrow(DerError);
    }
    const g = text(TAG.generalizedTime, "20280229120000Z");
    expect(readTime(g, readTlv(g, 0)).toISOString()).toBe("2028-02-29T12:00:00.000Z");
    const local = text(TAG.utcTime, "260101000000+0100");
    expect(() => readTime(local, readTlv(local, 0))).toThrow(DerError);
    const wrongTag = seq();
    expect(() => readTime(wrongTag, readTlv(wrongTag, 0))).toThrow(DerError);
  });
});
