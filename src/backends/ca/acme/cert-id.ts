/**
 * @module The ARI certificate identifier (RFC 9773 §4.1) read straight from a certificate's
 * DER with a small reader: the daemon must not load @peculiar/x509 for this, and
 * `CertSummary.serial` has lost the serial's sign byte, which the certID keeps.
 */

interface Tlv {
  tag: number;
  /** Offset of the value's first byte. */
  start: number;
  /** Offset just past the value. */
  end: number;
}

/** One DER element at `at`; null when the bytes do not hold one (long lengths up to 4 bytes). */
function readTlv(der: Uint8Array, at: number, limit: number): Tlv | null {
  if (at + 2 > limit) return null;
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  const end = start + len;
  return end > limit ? null : { tag, start, end };
}

/** The elements inside a constructed element, in order; null when one does not parse. */
function children(der: Uint8Array, parent: Tlv): Tlv[] | null {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(der, at, parent.end);
    if (!t) return null;
    out.push(t);
    at = t.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;
const OID = 0x06;
const VERSION_TAG = 0xa0;
const EXTENSIONS_TAG = 0xa3;
/** AuthorityKeyIdentifier's keyIdentifier: [0] IMPLICIT OCTET STRING (RFC 5280 §4.2.1.1). */
const KEY_IDENTIFIER_TAG = 0x80;
/** 2.5.29.35, id-ce-authorityKeyIdentifier. */
const AKI_OID = [0x55, 0x1d, 0x23];

function bytes(der: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(der.subarray(t.start, t.end));
}

/**
 * `base64url(AKI keyIdentifier) "." base64url(serial DER value bytes)`, the serial with its
 * leading 0x00 when it has one. Null when the certificate has no AKI keyIdentifier (no ARI
 * for it) or its DER does not parse.
 */
export function ariCertId(der: Uint8Array): string | null {
  const cert = readTlv(der, 0, der.length);
  if (!cert || cert.tag !== SEQUENCE) return null;
  const tbs = children(der, cert)?.[0];
  if (!tbs || tbs.tag !== SEQUENCE) return null;
  const fields = children(der, tbs);
  if (!fields) return null;
  const hasVersion = fields[0]?.tag === VERSION_TAG;
  const serial = fields[hasVersion ? 1 : 0];
  if (!serial || serial.tag !== INTEGER || serial.end === serial.start) return null;
  const extensions = fields.find((f) => f.tag === EXTENSIONS_TAG);
  const list = extensions && children(der, extensions)?.[0];
  if (!list || list.tag !== SEQUENCE) return null;
  for (const ext of children(der, list) ?? []) {
    const parts = children(der, ext);
    const oid = parts?.[0];
    if (!parts || !oid || oid.tag !== OID || !bytes(der, oid).equals(Buffer.from(AKI_OID))) continue;
    const value = parts[parts.length - 1]!;
    if (value.tag !== OCTET_STRING) return null;
    const aki = readTlv(der, value.start, value.end);
    if (!aki || aki.tag !== SEQUENCE) return null;
    const keyId = children(der, aki)?.find((t) => t.tag === KEY_IDENTIFIER_TAG);
    if (!keyId || keyId.end === keyId.start) return null;
    return `${bytes(der, keyId).toString("base64url")}.${bytes(der, serial).toString("base64url")}`;
  }
  return null;
}

/** The certID cut for a log line or audit message: `aYhb….AIdlQyE`. */
export function shortCertId(certId: string): string {
  const [aki = "", serial = ""] = certId.split(".");
  return `${aki.slice(0, 4)}….${serial}`;
}
