/**
 * @module The X.509 and PKCS#10 structures a renewal writes and reads on its hot path
 * (RFC 5280, RFC 2986), on der.ts and node:crypto: names, subjectAltNames, key
 * identifiers, signature algorithms, and the fields `verify` and the local CA read. The
 * rest of rota's certificate reading (details, CA roots, Namecheap) stays on @peculiar/x509.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { bits, bitStringBytes, children, contentOf, DerError, expect, implicit, NULL, oid, readOid, readTime, readTlv, seq, set, TAG, text, tlv, TRUE, unsignedBytes, whole, type Tlv } from "./der.ts";
import type { KeyType } from "./keys.ts";

export const OID = {
  commonName: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  extensionRequest: "1.2.840.113549.1.9.14",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** Signature algorithms by OID, with the hash node:crypto signs with; RSA ones carry a NULL parameter (RFC 4055 §5). */
const SIGNATURE_ALGORITHMS: Record<string, { hash: string; rsa: boolean }> = {
  "1.2.840.10045.4.3.2": { hash: "sha256", rsa: false },
  "1.2.840.10045.4.3.3": { hash: "sha384", rsa: false },
  "1.2.840.10045.4.3.4": { hash: "sha512", rsa: false },
  "1.2.840.113549.1.1.11": { hash: "sha256", rsa: true },
  "1.2.840.113549.1.1.12": { hash: "sha384", rsa: true },
  "1.2.840.113549.1.1.13": { hash: "sha512", rsa: true },
};

/** What each key type signs with, as webcrypto.ts chooses: P-384 with SHA-384, RSA with SHA-256. */
const SIGNING_OID: Record<KeyType, string> = {
  "ecdsa-p256": "1.2.840.10045.4.3.2",
  "ecdsa-p384": "1.2.840.10045.4.3.3",
  "rsa-2048": "1.2.840.113549.1.1.11",
  "rsa-3072": "1.2.840.113549.1.1.11",
  "rsa-4096": "1.2.840.113549.1.1.11",
};

export function algorithmIdentifier(type: KeyType): Uint8Array {
  const id = SIGNING_OID[type];
  return SIGNATURE_ALGORITHMS[id]!.rsa ? seq(oid(id), NULL) : seq(oid(id));
}

/**
 * Signs `tbs` with `key` (of `type`) and wraps it as a certificate or request:
 * SEQUENCE { tbs, algorithm, BIT STRING signature }.
 */
export function signed(tbs: Uint8Array, key: KeyObject, type: KeyType): Uint8Array {
  const signature = sign(SIGNATURE_ALGORITHMS[SIGNING_OID[type]]!.hash, tbs, key);
  return seq(tbs, algorithmIdentifier(type), bits(signature));
}

/**
 * Whether `signature` over `data` checks with `spki` under the algorithm `algOid`;
 * undefined for an algorithm this module does not know (RSA-PSS, EdDSA): the caller
 * then asks @peculiar/x509, as before. A key of another type than the algorithm's is
 * false: node would check an RSA signature labelled ECDSA with the RSA key and pass it.
 */
export function verifySignature(algOid: string, data: Uint8Array, signature: Uint8Array, spki: Uint8Array | KeyObject): boolean | undefined {
  const alg = SIGNATURE_ALGORITHMS[algOid];
  if (!alg) return undefined;
  try {
    const key = spki instanceof Uint8Array ? createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }) : spki;
    if (key.asymmetricKeyType !== (alg.rsa ? "rsa" : "ec")) return false;
    return verify(alg.hash, data, key, signature);
  } catch {
    return false;
  }
}

/** PrintableString's characters (X.680 §41.4), as @peculiar/x509 chose them before: anything else is a UTF8String. */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** A Name of one CN, or the empty Name. */
export function nameOf(cn: string | undefined): Uint8Array {
  if (cn === undefined) return seq();
  return seq(set(seq(oid(OID.commonName), text(PRINTABLE.test(cn) ? TAG.printableString : TAG.utf8String, cn))));
}

/** An IPv4 or IPv6 address (canonical text, names.ts) as the 4 or 16 bytes of an iPAddress SAN. */
export function ipBytes(ip: string): Uint8Array {
  if (!ip.includes(":")) {
    const parts = ip.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new DerError(`der: bad IPv4 address ${ip}`);
    return Uint8Array.from(parts);
  }
  const [head, tail, extra] = ip.split("::");
  if (extra !== undefined) throw new DerError(`der: bad IPv6 address ${ip}`);
  const groups = (s: string | undefined) => (s ? s.split(":") : []);
  const left = groups(head);
  const right = groups(tail);
  // "::" stands for one or more zero groups.
  const zeros = 8 - left.length - right.length;
  if (tail !== undefined && zeros < 1) throw new DerError(`der: bad IPv6 address ${ip}`);
  const all = tail === undefined ? left : [...left, ...Array<string>(zeros).fill("0"), ...right];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) throw new DerError(`der: bad IPv6 address ${ip}`);
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** GeneralNames for `entries` (x509.ts `sanEntries`): dNSName [2] or iPAddress [7]. */
export function generalNames(entries: Array<{ type: "dns" | "ip"; value: string }>): Uint8Array {
  return seq(...entries.map((e) => (e.type === "dns" ? implicit(2, dnsName(e.value)) : implicit(7, ipBytes(e.value)))));
}

/** A dNSName's IA5String bytes; names reach here as A-labels (names.ts), anything else is a bug to stop at. */
function dnsName(name: string): Uint8Array {
  if (!/^[\x21-\x7e]+$/.test(name)) throw new DerError(`der: ${JSON.stringify(name)} is not an ASCII host name`);
  return new TextEncoder().encode(name);
}

/** One Extension: SEQUENCE { id, critical (only when true), OCTET STRING value }. */
export function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), TRUE, tlv(TAG.octetString, value)) : seq(oid(id), tlv(TAG.octetString, value));
}

/** The SHA-1 of an SPKI's subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1), as @peculiar/x509 computes key identifiers. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  const top = readTlv(spki, 0);
  const [, key] = children(spki, expect(top, TAG.sequence, "a SubjectPublicKeyInfo"));
  return createHash("sha1").update(bitStringBytes(spki, expect(key, TAG.bitString, "the subjectPublicKey"))).digest();
}

/** PEM text of `der` under `label`, 64 columns, ending in a newline. */
export function toPem(der: Uint8Array, label: string): string {
  const body = Buffer.from(der).toString("base64").replace(/.{64}(?!$)/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** The DER of the first `label` block of `pem`; a DerError when there is none. */
export function fromPem(pem: string, label: string): Uint8Array {
  const begin = `-----BEGIN ${label}-----`;
  const from = pem.indexOf(begin);
  const to = pem.indexOf(`-----END ${label}-----`, from + begin.length);
  if (from < 0 || to < 0) throw new DerError(`der: no ${label} block`);
  const b64 = pem.slice(from + begin.length, to).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new DerError(`der: bad base64 in the ${label} block`);
  return new Uint8Array(Buffer.from(b64, "base64"));
}

/** A signed structure split: what was signed, with what, and the signature. */
interface SignedParts {
  body: Tlv;
  algorithm: string;
  /** The whole AlgorithmIdentifier, parameters included. */
  algorithmDer: Uint8Array;
  signature: Uint8Array;
}

function signedParts(der: Uint8Array, what: string): SignedParts {
  const top = readTlv(der, 0);
  if (top.end !== der.length) throw new DerError(`der: bytes after the ${what}`);
  const [body, alg, sig, extra] = children(der, expect(top, TAG.sequence, what));
  if (extra) throw new DerError(`der: extra field in the ${what}`);
  const algorithm = readOid(der, children(der, expect(alg, TAG.sequence, "an AlgorithmIdentifier"))[0]!);
  return { body: expect(body, TAG.sequence, what), algorithm, algorithmDer: whole(der, alg!), signature: bitStringBytes(der, expect(sig, TAG.bitString, "a signature")) };
}

/** The fields of a certificate a renewal reads. Byte fields are views into the DER. */
export interface CertFields {
  der: Uint8Array;
  tbs: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  /** The serial's bytes as lowercase hex, without the sign byte before a top bit (as @peculiar/x509 gives it). */
  serial: string;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  /** Extension values (the OCTET STRING's content) by OID. */
  extensions: Map<string, Uint8Array>;
}

/**
 * The string types a Name's attribute values take (RFC 5280 §4.1.2.4: DirectoryString, plus
 * IA5String for domainComponent and emailAddress).
 */
const NAME_STRINGS = new Set<number>([TAG.utf8String, TAG.printableString, 0x14, TAG.ia5String, 0x1a, 0x1c, 0x1e]);

/**
 * `el` checked to be a Name: SEQUENCE OF SET OF (at least one) SEQUENCE { OID, string }.
 * Issuer and subject are compared byte for byte, else as @peculiar/x509 prints them, and the
 * library prints some malformed names (a context tag for a SET) as the right one.
 */
function nameTlv(der: Uint8Array, el: Tlv | undefined, what: string): Tlv {
  for (const rdn of children(der, expect(el, TAG.sequence, what))) {
    const attributes = children(der, expect(rdn, TAG.set, "a RelativeDistinguishedName"));
    if (attributes.length === 0) throw new DerError("der: empty RelativeDistinguishedName");
    for (const atv of attributes) {
      const [type, value, extra] = children(der, expect(atv, TAG.sequence, "an AttributeTypeAndValue"));
      readOid(der, expect(type, TAG.oid, "an attribute type"));
      if (!value || extra || !NAME_STRINGS.has(value.tag)) throw new DerError("der: bad attribute value in a Name");
    }
  }
  return el!;
}

/** Reads a certificate's DER; a DerError for anything that is not one. */
export function readCertificate(der: Uint8Array): CertFields {
  const { body, algorithm, algorithmDer, signature } = signedParts(der, "a Certificate");
  const fields = children(der, body);
  // version [0] is there for v2 and v3 certificates only.
  const f = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  const [serial, innerAlgorithm, issuer, validity, subject, spki, ...rest] = f;
  // RFC 5280 §4.1.1.2: the algorithm outside the signature (not signed) must be the one inside it (signed).
  if (!Buffer.from(whole(der, expect(innerAlgorithm, TAG.sequence, "an AlgorithmIdentifier"))).equals(algorithmDer)) {
    throw new DerError("der: the certificate's signature algorithm differs from its TBS's");
  }
  const [nb, na] = children(der, expect(validity, TAG.sequence, "a Validity"));
  if (!nb || !na) throw new DerError("der: bad Validity");
  const extensions = new Map<string, Uint8Array>();
  const exts = rest.find((el) => el.tag === 0xa3);
  if (exts) {
    const [list] = children(der, exts);
    for (const ext of children(der, expect(list, TAG.sequence, "Extensions"))) {
      const parts = children(der, expect(ext, TAG.sequence, "an Extension"));
      const id = readOid(der, parts[0]!);
      // RFC 5280 §4.2: one instance of each. Reading either of two SANs would check names a client may not see.
      if (extensions.has(id)) throw new DerError(`der: extension ${id} twice`);
      extensions.set(id, contentOf(der, expect(parts[parts.length - 1], TAG.octetString, "an extension value")));
    }
  }
  return {
    der,
    tbs: whole(der, body),
    signatureAlgorithm: algorithm,
    signature,
    serial: Buffer.from(unsignedBytes(der, expect(serial, TAG.integer, "a serial number"))).toString("hex"),
    issuer: whole(der, nameTlv(der, issuer, "an issuer Name")),
    subject: whole(der, nameTlv(der, subject, "a subject Name")),
    notBefore: readTime(der, nb),
    notAfter: readTime(der, na),
    spki: whole(der, expect(spki, TAG.sequence, "a SubjectPublicKeyInfo")),
    extensions,
  };
}

/** The fields of a PKCS#10 request the local CA reads. */
export interface CsrFields {
  info: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  spki: Uint8Array;
}

export function readCsr(der: Uint8Array): CsrFields {
  const { body, algorithm, signature } = signedParts(der, "a CertificationRequest");
  const [, , spki] = children(der, body);
  return { info: whole(der, body), signatureAlgorithm: algorithm, signature, spki: whole(der, expect(spki, TAG.sequence, "a SubjectPublicKeyInfo")) };
}

/**
 * The names of a subjectAltName extension's value: dNSNames as written, iPAddresses as
 * full hex or dotted text for `canonicalIp` (verify.ts compares them with configured names).
 * Other kinds of name are skipped.
 */
export function sanNames(value: Uint8Array): Array<{ type: "dns" | "ip"; value: string }> {
  const out: Array<{ type: "dns" | "ip"; value: string }> = [];
  const top = expect(readTlv(value, 0), TAG.sequence, "GeneralNames");
  if (top.end !== value.length) throw new DerError("der: bytes after GeneralNames");
  for (const n of children(value, top)) {
    const bytes = contentOf(value, n);
    if (n.tag === 0x82) out.push({ type: "dns", value: new TextDecoder().decode(bytes) });
    else if (n.tag === 0x87 && bytes.length === 4) out.push({ type: "ip", value: bytes.join(".") });
    else if (n.tag === 0x87 && bytes.length === 16) {
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
      out.push({ type: "ip", value: groups.join(":") });
    }
  }
  return out;
}
