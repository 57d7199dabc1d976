/**
 * @module The names a certificate is for, in the one form CAs and certificates use:
 * host names as lowercase A-labels (IDNA, so `bücher.example` is `xn--bcher-kva.example`),
 * `*.` wildcards over one, and IP addresses in canonical text (RFC 5952 for IPv6).
 * Config validation, the CSR, the CAs, verification and the scheduler all compare these forms.
 */
import { isIPv4, isIPv6 } from "node:net";

/** `node:url`, loaded at its first use: some 3 ms of a start that listens before it reads a name (issue 11). */
let url: typeof import("node:url") | undefined;
const nodeUrl = () => (url ??= require("node:url") as typeof import("node:url"));

export type NameKind = "dns" | "wildcard" | "ip";

export interface NormalName {
  /** A-label host name, `*.` + A-label, or canonical IP address. */
  value: string;
  kind: NameKind;
}

/**
 * RFC 1123 LDH labels (1 to 63 of `a-z0-9-`, no hyphen first or last) joined by dots, as an
 * A-label name is written. No look-behind: in Bun one made the test twice as slow.
 */
const LDH_HOST = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** What the URL host parser reads as an IPv4 part ("ends in a number"): digits, or hex after `0x`. */
const NUMBER_LABEL = /^(?:[0-9]+|0x[0-9a-f]*)$/;
const HOST_MAX = 253;
/** The ASCII a host name may hold; `_`, `%` or a `*` inside are refused. */
const ASCII_NAME = /^[a-z0-9.-]*$/;
const WILDCARD = "*.";

/**
 * The normal form of a name as written in the config, or undefined when it is neither a
 * host name, a wildcard over one, nor an IP address. Case is folded and one trailing dot
 * (a fully qualified name) is dropped from a host name; an IP address has none. Unicode labels become A-labels by UTS #46 as browsers
 * apply it (node:url `domainToASCII`); A-labels written as such must decode.
 */
export function normalizeName(written: string): NormalName | undefined {
  const lower = written.toLowerCase();
  const name = lower.endsWith(".") ? lower.slice(0, -1) : lower;
  if (isPlainHost(name)) return { value: name, kind: "dns" };
  const ip = canonicalIp(name);
  // The trailing dot of a fully qualified name belongs to DNS: `192.0.2.1.` is no address.
  if (ip !== undefined) return name === lower ? { value: ip, kind: "ip" } : undefined;
  const wildcard = name.startsWith(WILDCARD);
  const host = toALabel(wildcard ? name.slice(WILDCARD.length) : name);
  if (host === undefined) return undefined;
  return wildcard ? { value: WILDCARD + host, kind: "wildcard" } : { value: host, kind: "dns" };
}

/** The kind of a name already in normal form. */
export function nameKind(normal: string): NameKind {
  if (canonicalIp(normal) !== undefined) return "ip";
  return normal.startsWith(WILDCARD) ? "wildcard" : "dns";
}

/**
 * An IP address in canonical text: IPv4 dotted decimal, IPv6 lowercase and compressed as
 * RFC 5952 §4 says (the WHATWG URL serializer does exactly that). OpenSSL's
 * `2001:DB8:0:0:0:0:0:1` becomes `2001:db8::1`. Undefined for anything else, zone ids included:
 * a certificate holds bare addresses.
 */
export function canonicalIp(text: string): string | undefined {
  if (isIPv4(text)) return text;
  if (!isIPv6(text) || text.includes("%")) return undefined;
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** For people: host names with their U-labels (`bücher.example`), IP addresses as they are. */
export function toUnicode(normal: string): string {
  const kind = nameKind(normal);
  if (kind === "ip") return normal;
  const host = kind === "wildcard" ? normal.slice(WILDCARD.length) : normal;
  const unicode = nodeUrl().domainToUnicode(host) || host;
  return kind === "wildcard" ? WILDCARD + unicode : unicode;
}

/**
 * A host name already in normal form with no IDNA to apply: lowercase LDH labels, none of
 * them an A-label (`xn--`, which must decode), the last not a number (which the URL parser
 * reads as IPv4). UTS #46 and the URL parser leave such a name unchanged, so it needs
 * neither; most names are written so, and at 10,000 certs IDNA was about a quarter of a
 * start's config validation (issue 11). `names.test.ts` holds it to `toALabel`.
 */
export function isPlainHost(host: string): boolean {
  if (host.length > HOST_MAX || host.includes("xn--") || !LDH_HOST.test(host)) return false;
  return !NUMBER_LABEL.test(host.slice(host.lastIndexOf(".") + 1));
}

/** A host name (no wildcard) as an A-label name, by IDNA; undefined when it is none. */
export function toALabel(host: string): string | undefined {
  const asciiPart = host.replace(/[^\x00-\x7f]/g, "");
  // Other ASCII is refused, never reinterpreted (the URL host parser would percent-decode "%41").
  if (!ASCII_NAME.test(asciiPart)) return undefined;
  const converted = nodeUrl().domainToASCII(host);
  // ASCII input must come back unchanged: a bad A-label ("xn--a") or a number the URL
  // parser reads as IPv4 ("1.2.3") is refused.
  if (converted === "" || (asciiPart === host && converted !== host)) return undefined;
  return isLdhHost(converted) && isUnicodeLabelsLdh(converted) ? converted : undefined;
}

/** Labels are LDH and at most 63 octets, the name at most 253; the last label is not all digits (that reads as IPv4). */
function isLdhHost(host: string): boolean {
  return host.length <= HOST_MAX && LDH_HOST.test(host) && !/^\d+$/.test(host.slice(host.lastIndexOf(".") + 1));
}

/** IDNA's hyphen rule holds for U-labels too (`xn--mnchen--n2a` is `münchen-`). */
function isUnicodeLabelsLdh(host: string): boolean {
  return nodeUrl().domainToUnicode(host)
    .split(".")
    .every((l) => !l.startsWith("-") && !l.endsWith("-"));
}
