/**
 * @module Just enough DER (X.690) to write and read the certificates and requests rota
 * signs and checks on every renewal, so that the hot path of a renewal (CSR, local-CA
 * leaf, verify) runs on node:crypto instead of @peculiar/x509's ASN.1 object model, which
 * cost about 15 ms of CPU per renewal against well under 1 ms here (issue 11). Writing
 * builds byte arrays; reading walks tag-length-value triples with bounds checks and never
 * interprets more than it is asked to. Only definite lengths, as DER requires.
 */

/** One tag-length-value element inside `buf`: its tag byte, where its content starts and ends, and where the whole element starts. */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  content: number;
  /** Offset just past the content. */
  end: number;
}

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** A malformed element: the caller turns it into its own error ("does not parse"). */
export class DerError extends Error {}

// --- writing ---

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** `tag` around the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const head = [tag, ...lengthBytes(len)];
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const seq = (...parts: Uint8Array[]): Uint8Array => tlv(TAG.sequence, ...parts);
export const set = (...parts: Uint8Array[]): Uint8Array => tlv(TAG.set, ...parts);
export const octets = (data: Uint8Array): Uint8Array => tlv(TAG.octetString, data);
/** A BIT STRING of whole bytes (no unused bits), as keys and signatures are. */
export const bits = (data: Uint8Array): Uint8Array => tlv(TAG.bitString, Uint8Array.of(0), data);
export const TRUE = Uint8Array.of(TAG.boolean, 1, 0xff);
export const NULL = Uint8Array.of(TAG.null, 0);

/**
 * A non-negative INTEGER from its big-endian bytes, in DER's minimal form: leading zero
 * bytes dropped, one put back when the top bit would read as a sign (as @peculiar/x509
 * wrote serial numbers).
 */
export function positiveInteger(bytes: Uint8Array): Uint8Array {
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first++;
  const rest = bytes.length === 0 ? Uint8Array.of(0) : bytes.subarray(first);
  return rest[0]! > 0x7f ? tlv(TAG.integer, Uint8Array.of(0), rest) : tlv(TAG.integer, rest);
}

/** An INTEGER's content bytes without the sign byte DER puts before a top bit (a serial number as @peculiar/x509 reads it). */
export function unsignedBytes(buf: Uint8Array, el: Tlv): Uint8Array {
  const c = contentOf(buf, expect(el, TAG.integer, "an INTEGER"));
  return c.length > 1 && c[0] === 0 && c[1]! > 0x7f ? c.subarray(1) : c;
}

/** A small non-negative INTEGER (versions). */
export function smallInteger(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 127) throw new RangeError(`der: ${n} is not a small integer`);
  return Uint8Array.of(TAG.integer, 1, n);
}

/** An OBJECT IDENTIFIER from its dotted text. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const body: number[] = [];
  const push = (v: number) => {
    const septets = [v & 0x7f];
    for (let rest = Math.floor(v / 128); rest > 0; rest = Math.floor(rest / 128)) septets.unshift(0x80 | (rest & 0x7f));
    body.push(...septets);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return tlv(TAG.oid, Uint8Array.from(body));
}

/** A string of the given string type (its bytes as UTF-8, which is ASCII for the restricted types). */
export const text = (tag: number, value: string): Uint8Array => tlv(tag, new TextEncoder().encode(value));

/** Context-specific constructed `[n]` around `parts` (EXPLICIT tagging, and IMPLICIT SEQUENCE/SET). */
export const explicit = (n: number, ...parts: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...parts);
/** Context-specific primitive `[n]` with `content` (IMPLICIT tagging of a primitive type). */
export const implicit = (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content);

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, UTC. */
export function time(d: Date): Uint8Array {
  const iso = d.toISOString();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
  const year = d.getUTCFullYear();
  if (year >= 1950 && year < 2050) return text(TAG.utcTime, `${digits.slice(2)}Z`);
  return text(TAG.generalizedTime, `${digits}Z`);
}

// --- reading ---

/** The element starting at `at` in `buf`, checked to end by `limit`. */
export function readTlv(buf: Uint8Array, at: number, limit = buf.length): Tlv {
  if (at + 2 > limit) throw new DerError("der: truncated element");
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("der: multi-byte tags are not used here");
  let len = buf[at + 1]!;
  let content = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // Indefinite lengths (0x80) are BER, not DER; four length bytes is 4 GiB.
    if (n === 0 || n > 4 || content + n > limit) throw new DerError("der: bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[content + i]!;
    content += n;
  }
  const end = content + len;
  if (end > limit) throw new DerError("der: element runs past its parent");
  return { tag, start: at, content, end };
}

/** The elements inside `parent`, in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.content; at < parent.end; ) {
    const child = readTlv(buf, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** The element with tag `tag`, or a DerError naming what was expected. */
export function expect(el: Tlv | undefined, tag: number, what: string): Tlv {
  if (!el || el.tag !== tag) throw new DerError(`der: expected ${what}`);
  return el;
}

/** The whole element, tag and length included. */
export const whole = (buf: Uint8Array, el: Tlv): Uint8Array => buf.subarray(el.start, el.end);
/** The content bytes only. */
export const contentOf = (buf: Uint8Array, el: Tlv): Uint8Array => buf.subarray(el.content, el.end);

/** A BIT STRING's bytes; only whole bytes (keys and signatures) are accepted. */
export function bitStringBytes(buf: Uint8Array, el: Tlv): Uint8Array {
  expect(el, TAG.bitString, "a BIT STRING");
  if (el.end === el.content || buf[el.content] !== 0) throw new DerError("der: BIT STRING with unused bits");
  return buf.subarray(el.content + 1, el.end);
}

/** An OBJECT IDENTIFIER's dotted text. */
export function readOid(buf: Uint8Array, el: Tlv): string {
  expect(el, TAG.oid, "an OBJECT IDENTIFIER");
  if (el.end === el.content) throw new DerError("der: empty OBJECT IDENTIFIER");
  // X.690 §8.19.2: each arc in the fewest septets (no leading 0x80), the last byte of an arc
  // without the top bit. Anything else is refused rather than read as some other, shorter OID.
  if (buf[el.end - 1]! & 0x80) throw new DerError("der: OBJECT IDENTIFIER cut short");
  const arcs: number[] = [];
  let v = 0;
  for (let i = el.content; i < el.end; i++) {
    if (v === 0 && buf[i] === 0x80) throw new DerError("der: OBJECT IDENTIFIER arc not in minimal form");
    v = v * 128 + (buf[i]! & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) throw new DerError("der: OBJECT IDENTIFIER arc too large");
    if ((buf[i]! & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join(".");
}

/** A UTCTime or GeneralizedTime in the forms RFC 5280 allows (`YYMMDDHHMMSSZ`, `YYYYMMDDHHMMSSZ`). */
export function readTime(buf: Uint8Array, el: Tlv): Date {
  const s = new TextDecoder().decode(contentOf(buf, el));
  const m = el.tag === TAG.utcTime ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : el.tag === TAG.generalizedTime ? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/.exec(s) : null;
  if (!m) throw new DerError("der: bad time");
  const [, y, mo, d, h, mi, sec] = m.map(Number) as [number, number, number, number, number, number, number];
  const year = el.tag === TAG.utcTime ? (y < 50 ? 2000 + y : 1900 + y) : y;
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, sec));
  // Date.UTC rolls a 13th month or a 30 February over into a real date: such a time is malformed, not that date.
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || date.getUTCHours() !== h || date.getUTCMinutes() !== mi || date.getUTCSeconds() !== sec) {
    throw new DerError("der: bad time");
  }
  return date;
}
