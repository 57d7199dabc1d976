/**
 * @module Config keys of a `[[ca]] type = "namecheap"` section (Sectigo certificates bought at
 * Namecheap) and the `[[cert]]` key it reads. The account keys are the Namecheap DNS backend's
 * (`parseNamecheapAccount`): the two sections share nothing implicitly but may name one key file.
 */
import type { Reader } from "../../../config/reader.ts";
import { parseNamecheapAccount, type NamecheapAccount } from "../../dcv/namecheap/config.ts";

/**
 * `WebServerType` values Namecheap documents for `namecheap.ssl.activate` / `reissue`
 * (https://www.namecheap.com/support/api/methods/ssl/activate/). Sectigo ignores it for DV
 * certificates, but the API refuses a value it does not list.
 */
export const WEB_SERVER_TYPES = [
  "apacheopenssl",
  "apachessl",
  "apacheraven",
  "apachessleay",
  "c2net",
  "ibmhttp",
  "iplanet",
  "domino",
  "dominogo4625",
  "dominogo4626",
  "netscape",
  "zeusv3",
  "apache2",
  "apacheapachessl",
  "cobaltseries",
  "cpanel",
  "ensim",
  "hsphere",
  "ipswitch",
  "plesk",
  "tomcat",
  "weblogic",
  "website",
  "webstar",
  "iis",
  "iis4",
  "iis5",
  "other",
] as const;

export interface NamecheapCaConfig extends NamecheapAccount {
  /** Sent as `AdminEmailAddress`: Sectigo's contact for the certificate. */
  adminEmail: string;
  webServerType: string;
  /** How long `awaitIssuance` polls before it gives up (the request stays open at Namecheap). */
  issuanceTimeoutSeconds: number;
}

export const DEFAULT_ISSUANCE_TIMEOUT_SECONDS = 3600;

export function parseNamecheapCaConfig(r: Reader): NamecheapCaConfig {
  const account = parseNamecheapAccount(r);
  const adminEmail = r.string("admin_email", { required: true, pattern: /^[^@\s]+@[^@\s]+\.[^@\s]+$/, patternHint: "is not an email address" }) ?? "";
  const webServerType = r.oneOf("web_server_type", WEB_SERVER_TYPES, "other");
  const issuanceTimeoutSeconds = r.int("issuance_timeout_seconds", { min: 10, max: 86_400, fallback: DEFAULT_ISSUANCE_TIMEOUT_SECONDS });
  return { ...account, adminEmail, webServerType, issuanceTimeoutSeconds };
}

/** The `[[cert]]` key a Namecheap CA reads: which certificate (plan) at Namecheap this cert is. */
export const NAMECHEAP_CERT_KEYS = ["namecheap_certificate_id"] as const;

export interface NamecheapCertOptions {
  /** The `CertificateID` the config names; rota follows its reissues (`ReplacedBy`) in its state file. */
  certificateId: number;
}

export function parseNamecheapCertOptions(r: Reader): NamecheapCertOptions {
  const certificateId = r.int("namecheap_certificate_id", { min: 1, max: 9_999_999_999 });
  if (certificateId === undefined && !r.has("namecheap_certificate_id")) r.problem("namecheap_certificate_id", "is required with a namecheap CA");
  return { certificateId: certificateId ?? 0 };
}

/**
 * Sectigo's extra name: a one-name certificate for `shop.example.com` also covers
 * `www.shop.example.com`, and one for `www.shop.example.com` the bare name. `decide()` ignores
 * these, or it would see "names changed" and reissue at every check.
 */
export function impliedNames(domains: readonly string[]): string[] {
  if (domains.length !== 1) return [];
  const [name] = domains as [string];
  if (name.startsWith("*.")) return [];
  return [name.startsWith("www.") ? name.slice(4) : `www.${name}`];
}
